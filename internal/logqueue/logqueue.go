// Package logqueue lets a process write its log to an output that may stall
// without waiting on it.
//
// # Why
//
// The gateway writes its log, the access log's line per request included,
// to its standard output, and the requests that log wait for the write.
// Standard output is a pipe most of the time: to a container runtime's log
// driver (whose default, in Docker, blocks the writer while it is behind),
// to journald, to a log shipper. When that pipe's reader stalls, the pipe
// fills (64 KiB on Linux) and every write blocks: a gateway whose standard
// output nobody read answered 142 requests, then no request at all, while
// /healthz still said it was well. A log line is worth less than the
// request it describes.
//
// A Writer takes each write into a queue of at most a set number of bytes
// and returns; one goroutine of its own writes the queue out. While the
// output stalls and the queue is full, writes are dropped and counted, and
// the batch they did not fit behind is followed by a line that says how many
// were lost. Writes are kept whole and in order. Its Priority writer puts
// lines on the same queue that are dropped only past twice the bound: a
// process's own events (a reload, a failure) outlast the line per request
// that fills the queue, when an output that is slow, not stopped, cannot
// take every line.
package logqueue

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Writer is an io.Writer that never waits for its output: it queues what it
// is given, at most a set number of bytes, and drops what does not fit.
// Safe for concurrent use; each Write is queued whole or dropped whole.
type Writer struct {
	out    io.Writer
	max    int
	delay  time.Duration
	notice func(dropped uint64) []byte

	mu      sync.Mutex
	queue   []byte // what waits to be written out
	spare   []byte // the writing goroutine's last batch, for reuse
	lost    uint64 // writes dropped since the last notice
	closing bool
	wake    chan struct{} // holds a token when there is work
	done    chan struct{} // closed when the goroutine has written all and ended

	dropped atomic.Uint64
}

// New returns a Writer that writes to out, holding at most maxBytes that
// wait for it. Once a write finds the queue empty, the Writer waits delay
// before it writes the queue out, so that the lines of a busy process go
// out in a few large writes rather than one each: without it, the
// goroutine woken for each line cost the gateway some 3 % of its requests a
// second on one core.
// notice, called with how many writes were dropped since the
// last notice, makes the line written out after the batch they did not fit
// behind (nil writes none). The Writer's goroutine runs until Close.
func New(out io.Writer, maxBytes int, delay time.Duration, notice func(dropped uint64) []byte) *Writer {
	w := &Writer{out: out, max: maxBytes, delay: delay, notice: notice,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// Write queues a copy of p and returns len(p) without waiting for the
// output. When p does not fit in what is left of the queue's bound, or the
// Writer is closed, it is dropped and counted; Write still reports success,
// as a log handler has nothing better to do with an error.
func (w *Writer) Write(p []byte) (int, error) { return w.add(p, w.max) }

// Priority returns a writer onto w's queue whose writes are dropped only
// when they would take it past twice w's bound: for the lines worth
// keeping when some must be lost. Its drops are counted with w's.
func (w *Writer) Priority() io.Writer { return priority{w} }

// priority is Writer.Priority's writer.
type priority struct{ w *Writer }

func (p priority) Write(b []byte) (int, error) { return p.w.add(b, 2*p.w.max) }

// add queues a copy of p unless the queue would then hold more than max
// bytes, or w is closed.
func (w *Writer) add(p []byte, max int) (int, error) {
	w.mu.Lock()
	if w.closing || len(w.queue)+len(p) > max {
		w.lost++
		w.dropped.Add(1)
	} else {
		w.queue = append(w.queue, p...)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Dropped returns how many writes were dropped since New.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Close stops taking writes and waits until what was queued has been
// written out, or ctx ends, whichever is first: an output that stalls for
// good delays it only until ctx's end. It returns ctx's error when the
// queue was not written out.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes the queue out, a batch at a time, until Close and an empty
// queue.
func (w *Writer) run() {
	defer close(w.done)
	for range w.wake {
		if w.delay > 0 {
			time.Sleep(w.delay) // deliberate: lets the lines of this delay gather into one write
		}
		for {
			w.mu.Lock()
			batch, lost, closing := w.queue, w.lost, w.closing
			w.queue, w.spare, w.lost = w.spare[:0], nil, 0
			w.mu.Unlock()
			if len(batch) > 0 {
				_, _ = w.out.Write(batch)
			}
			// The writes lost were refused while the queue was full of
			// this batch: after it, before the next.
			if lost > 0 && w.notice != nil {
				_, _ = w.out.Write(w.notice(lost))
			}
			if len(batch) == 0 {
				if closing {
					return
				}
				break
			}
			w.mu.Lock()
			w.spare = batch
			w.mu.Unlock()
		}
	}
}
