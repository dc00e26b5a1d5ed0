package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// The watch notices a client leaving while its request runs, and cancels the
// request's context, so that the work done for it stops (the chain of calls
// behind the gateway included). Noticing needs a read on the connection
// that blocks while the handler runs: a goroutine and a system call per
// request, which net/http's server pays on every request. The watch pays
// them only for requests that run longer than Server.WatchAfter: a timer,
// reset and stopped on the connection's goroutine, starts the read when it
// fires. A request with a body is watched once its body was read to the end
// (before that, the handler's reads notice the client leaving), and a
// request whose connection already holds the next one (pipelining) is not
// watched at all.
type watch struct {
	c *conn

	mu       sync.Mutex
	done     sync.Cond // signalled when a read ends
	state    uint8
	timer    *time.Timer
	cancel   context.CancelFunc // the current request's
	deadline time.Time          // the read deadline the handler set, or zero
	active   bool               // a request is being served
	aborting bool               // end is interrupting the read
	gone     bool               // the read saw the client leave
}

const (
	watchOff     uint8 = iota
	watchArmed         // the timer will start a read
	watchReading       // a read is blocked on the connection
)

// aLongTimeAgo is a deadline in the past, which interrupts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// begin starts watching for a new request, whose context cancel cancels,
// and arms the watch at once when now is set.
func (w *watch) begin(cancel context.CancelFunc, now bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel, w.active, w.gone, w.deadline = cancel, true, false, time.Time{}
	if now {
		w.armLocked()
	}
}

// arm starts the timer, unless the request is over or already watched.
func (w *watch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armLocked()
}

func (w *watch) armLocked() {
	if !w.active || w.state != watchOff {
		return
	}
	after := w.c.srv.watchAfter()
	w.state = watchArmed
	if after < 0 {
		go w.read()
		return
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(after, w.read)
		return
	}
	w.timer.Reset(after)
}

// read waits for the client to send or leave; the timer runs it.
func (w *watch) read() {
	w.mu.Lock()
	if w.state != watchArmed {
		w.mu.Unlock() // stopped, or a late run for a past request
		return
	}
	w.state = watchReading
	w.mu.Unlock()

	c := w.c
	var n int
	var err error
	for {
		if testHookWatchRead != nil {
			testHookWatchRead()
		}
		n, err = c.rwc.Read(c.byteBuf[:])
		if testHookWatchReadDone != nil {
			testHookWatchReadDone(err)
		}
		w.mu.Lock()
		if err == nil || w.aborting || !isTimeout(err) || w.deadlinePassedLocked() {
			break
		}
		// A read deadline the handler set fired, and the handler has
		// since cleared it or moved it later: the client did not leave.
		w.mu.Unlock()
	}
	if n == 1 {
		c.hasByte = true // the start of the next request: Read returns it first
	}
	if err != nil && !w.aborting {
		w.gone = true
		if w.cancel != nil {
			w.cancel()
		}
	}
	w.state = watchOff
	w.done.Broadcast()
	w.mu.Unlock()
}

// setReadDeadline sets the connection's read deadline for the handler, and
// remembers it, under the lock the read takes to judge its error.
func (w *watch) setReadDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	return w.c.rwc.SetReadDeadline(t)
}

// deadlinePassedLocked reports whether the read deadline the handler set,
// if any, has passed: a read that timed out then was stopped by it.
func (w *watch) deadlinePassedLocked() bool {
	return !w.deadline.IsZero() && !time.Now().Before(w.deadline)
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
// reports whether the client left.
func (w *watch) end() (gone bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = false
	switch w.state {
	case watchArmed:
		if w.timer != nil {
			w.timer.Stop() // a run that already started finds the state off
		}
		w.state = watchOff
	case watchReading:
		w.aborting = true
		w.c.rwc.SetReadDeadline(aLongTimeAgo)
		for w.state == watchReading {
			w.done.Wait()
		}
		w.aborting = false
		w.c.rwc.SetReadDeadline(time.Time{})
	}
	return w.gone
}

// abandon ends the watch of a request whose handler panicked.
func (w *watch) abandon() {
	w.end()
	w.mu.Lock()
	cancel := w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
