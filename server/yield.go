package server

import "runtime"

// A kept-alive connection that has written its answer reads for the next
// request at once, and when the client has not sent it yet, which is almost
// always (the answer left a moment ago), that read is a system call that
// finds nothing (EAGAIN) before the goroutine parks on the poller. Nothing
// else can wait there: the poller forgets what it saw before every read
// (internal/poll resets its readiness first), so a wait without that read
// could miss a pipelined request that came while the answer was made, and
// hang. nginx, with an event loop of its own, pays no such read.
//
// Under load there is a cheaper way to find the next request there: let the
// goroutines that are ready run first (runtime.Gosched), which takes as long
// as they take to serve their own requests, often long enough for this
// client's next one to come. The read then finds it and the goroutine does
// not park: one system call and one trip through the poller less. On the
// gateway pinned to one core under 64 connections this cut the reads that
// found nothing from about one a request to about 0.15 (bench/README.md, "The
// gap to nginx").
//
// When the process is not busy, no one is ready, Gosched returns at once and
// the read finds nothing as before: the yield is wasted, and with idle Ps
// it also wakes a thread to look for work. So a connection yields only while
// its yields pay: after one that did not (the read still waited, which
// rawio.Conn's Waits tells), it skips the next yieldBackoff before it tries
// again. A connection whose reads rawio does not make never yields.
type yielder struct {
	w    waiter // nil: never yield
	skip int    // idle waits left before the next yield
	mark uint32 // w.Waits() before the read that follows a yield
}

// waiter is rawio.Conn's Waits.
type waiter interface{ Waits() uint32 }

// yieldBackoff is how many idle waits a connection skips yielding before
// it tries again, after a yield that did not pay: when the process is
// idle, one wait in yieldBackoff+1 pays for a wasted yield.
const yieldBackoff = 32

// before is called before a kept-alive connection reads for its next
// request, with nothing of it buffered, and yields when it should. It
// reports whether it did, for after.
func (y *yielder) before() bool {
	if y.w == nil {
		return false
	}
	if y.skip > 0 {
		y.skip--
		return false
	}
	y.mark = y.w.Waits()
	runtime.Gosched()
	return true
}

// after is called once the read that followed before is over, with what
// before reported: a yield after which the read still waited did not pay.
func (y *yielder) after(yielded bool) {
	if yielded && y.w.Waits() != y.mark {
		y.skip = yieldBackoff
	}
}
