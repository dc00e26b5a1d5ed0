package server

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
)

// The watch notices a client leaving while its request runs, and cancels the
// request's context, so that the work done for it stops (the chain of calls
// behind the gateway included). Noticing needs a read on the connection
// that blocks while the handler runs: a goroutine and a system call per
// request, which net/http's server pays on every request. The watch pays
// them only for requests that run longer than Server.WatchAfter, counted
// from the request's start: a timer starts the read then. A request with a
// body is watched once its body was read to the end, counted from then
// (before that, the handler's reads notice the client leaving), and a
// request whose connection already holds the next one (pipelining) is not
// watched at all.
//
// Most requests end well before WatchAfter, and each used to reset a timer
// and stop it, under a mutex: timer work in the runtime, twice a request.
// Now a request only records when it began to want watching, in atomics,
// and queues its connection's watch with the Server's sweeper, unless it is
// queued already (watchsweep.go): the sweeper's one timer starts the read of
// a request that has waited long enough, and drops the watch of one that
// ended. The mutex is left to the watch's read, which only a request longer
// than WatchAfter pays for.
type watch struct {
	c     *conn
	after time.Duration // Server.WatchAfter, or its default

	// state holds the flags below and, above them, the number of the
	// request, so that the timer cannot mistake one request for a later
	// one with the same flags.
	state   atomic.Uint64
	armedAt atomic.Int64 // when the request began to want watching, as c.since
	sw      *sweeper     // the Server's, which starts the read in time
	queued  atomic.Bool  // w is in sw's queue
	next    *watch       // the next in sw's queue, while queued

	// Written by begin before it sets wActive, read by the read it allows.
	ctx *leanctx.Ctx // the current request's context, which a leaving client cancels
	// Written by the read before it clears wReading, read by end after.
	gone bool // the read saw the client leave

	mu       sync.Mutex // the read's: held to end it, and to judge its error
	done     sync.Cond  // signalled when a read ends
	aborting bool       // end is interrupting the read
}

const (
	wActive  uint64 = 1 << iota // a request is being served
	wArmed                      // it wants watching from armedAt+after on
	wReading                    // a read is under way, or about to be
	wRequest uint64 = 1 << 8    // one request, in the count above the flags
)

// aLongTimeAgo is a deadline in the past, which interrupts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// begin starts watching for a new request, whose context is ctx,
// and arms the watch at once when now is set. Only the connection's
// goroutine calls it, between end and the handler.
func (w *watch) begin(ctx *leanctx.Ctx, now bool) {
	w.ctx, w.gone = ctx, false
	if !now {
		w.state.Add(wRequest | wActive) // neither wActive nor wReading was set
		return
	}
	w.armAdding(wRequest | wActive)
}

// arm makes the current request want watching from now on, unless it is
// over or wants it already.
func (w *watch) arm() { w.armAdding(0) }

// armAdding is arm; add, added to the state first, makes begin's request
// the current one.
func (w *watch) armAdding(add uint64) {
	if w.after >= 0 {
		w.armedAt.Store(int64(w.c.since()))
	}
	for {
		s := w.state.Load()
		n := s + add
		if n&wActive == 0 || n&(wArmed|wReading) != 0 {
			return
		}
		n |= wArmed
		if w.after < 0 {
			n |= wReading // read at once
		}
		if !w.state.CompareAndSwap(s, n) {
			continue
		}
		if n&wReading != 0 {
			go w.read()
		} else {
			w.sw.enqueue(w)
		}
		return
	}
}

// look is the sweeper's look at w at now: it starts the read if the
// request served has wanted watching for w.after, and else reports whether
// it will, and in how long.
func (w *watch) look(now time.Time) (wait time.Duration, later bool) {
	for {
		s := w.state.Load()
		if s&(wActive|wArmed|wReading) != wActive|wArmed {
			return 0, false
		}
		// armedAt is that of the request in s, or of a later one, which
		// changed s: then the swap below fails and look looks again.
		if left := w.after - (now.Sub(w.c.base) - time.Duration(w.armedAt.Load())); left > 0 {
			return left, true
		}
		if w.state.CompareAndSwap(s, s|wReading) {
			go w.read()
			return 0, false
		}
	}
}

// read waits for the client to send or leave; look or arm runs it, once it
// set wReading.
func (w *watch) read() {
	c := w.c
	var n int
	var err error
	w.mu.Lock()
	for {
		w.mu.Unlock()
		if testHookWatchRead != nil {
			testHookWatchRead()
		}
		n, err = c.readSocket(c.byteBuf[:])
		if testHookWatchReadDone != nil {
			testHookWatchReadDone(err)
		}
		w.mu.Lock()
		// A read deadline the handler set fired, and the handler has
		// since cleared it or moved it later: the client did not leave.
		if err == nil || w.aborting || !isTimeout(err) || c.rd.passed(time.Now()) {
			break
		}
	}
	if n == 1 {
		c.hasByte = true // the start of the next request: Read returns it first
	}
	if err != nil && !w.aborting {
		w.gone = true
		w.ctx.Cancel()
	}
	// The request is watched no more: a body read to its end later does
	// not start another read.
	w.state.And(^wReading)
	w.done.Broadcast()
	w.mu.Unlock()
}

// Hooks for tests: when set, they run before the watch reads, and when its
// read returns, before the watch looks at the result.
var (
	testHookWatchRead     func()
	testHookWatchReadDone func(error)
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// end stops watching once the handler returned (or before a hijack), and
// reports whether the client left. Only the connection's goroutine calls
// it. The watch is left queued: the sweeper finds no request to watch, and
// drops it.
func (w *watch) end() (gone bool) {
	for {
		s := w.state.Load()
		if s&wReading != 0 {
			w.stopRead()
			continue
		}
		if w.state.CompareAndSwap(s, s&^(wActive|wArmed)) {
			return w.gone
		}
	}
}

// stopRead interrupts the watch's read and waits for it to end.
func (w *watch) stopRead() {
	c := w.c
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state.Load()&wReading == 0 {
		return
	}
	w.aborting = true
	c.rd.setNow(aLongTimeAgo)
	for w.state.Load()&wReading != 0 {
		w.done.Wait()
	}
	w.aborting = false
	// No deadline, as after the handler, until the next wait sets one.
	c.rd.Set(time.Time{})
}

// abandon ends the watch of a request whose handler panicked.
func (w *watch) abandon() {
	w.end()
	if w.ctx != nil {
		w.ctx.Cancel()
	}
}
