package server

import (
	"math"
	"sync/atomic"
	"time"
)

// A request that runs for WatchAfter has its connection watched (see
// watch.go); something must notice when it has. Each connection used to
// keep a timer of its own for it, which fired about once per WatchAfter on
// a connection that kept being used, and once per request on one used less
// often than that, even though nearly every request had ended by then: each
// firing is a goroutine (time.AfterFunc's), so that short requests paid
// part of what the watch was to spare them. At 2,000 requests a second over
// 8 connections that was about 0.4 goroutines a request; over many connections
// that each carry a request now and then, one a request, as net/http's
// server pays for its background read. 40 connections kept busy for 300 ms
// made 787 (TestWatchSweepFiresPerServer).
//
// Now one sweeper per Server does it. A request that wants watching queues
// its connection's watch, once (a connection already queued is not queued
// again), and the sweeper's one timer looks at the queue: it starts the
// read of each watch whose request has wanted watching for WatchAfter,
// queues again those that will later, and drops the others, whose request
// ended. The timer is set for the earliest of those that will, and at least
// an eighth of WatchAfter ahead, so that a watch starts between WatchAfter
// and an eighth of it more after its request began to want it; it stops
// when the queue is empty. The timer fires at most eight times per
// WatchAfter for the whole Server, and only while requests come: the same
// 40 connections made 12 to 16 goroutines. At the load test's 2,000
// requests a second over 8 connections the gateway spent about a tenth less
// CPU a request (bench/README.md).
type sweeper struct {
	head  atomic.Pointer[watch] // the queued watches, linked by next
	armed atomic.Bool           // the timer is set or a sweep runs: who set it owns timer
	timer *time.Timer           // runs sweep; made by the first who sets armed
	after time.Duration         // the watches' WatchAfter, set with timer
}

// enqueue queues w, which wants watching, unless it is queued already, and
// sets the timer if it is not.
func (sw *sweeper) enqueue(w *watch) {
	if !sw.push(w) {
		return
	}
	if !sw.armed.Load() && sw.armed.CompareAndSwap(false, true) {
		sw.set(w.after, w.after)
	}
}

// push queues w unless it is queued already, and reports whether it did.
func (sw *sweeper) push(w *watch) bool {
	if w.queued.Load() || !w.queued.CompareAndSwap(false, true) {
		return false
	}
	for {
		old := sw.head.Load()
		w.next = old
		if sw.head.CompareAndSwap(old, w) {
			return true
		}
	}
}

// set sets the timer to fire after d; after is the watches' WatchAfter.
// Only who holds armed calls it.
func (sw *sweeper) set(d, after time.Duration) {
	if sw.timer == nil {
		sw.after = after
		// Made never to fire, then reset: sweep cannot run before the
		// timer is in sw.timer.
		sw.timer = time.AfterFunc(math.MaxInt64, sw.sweep)
	}
	sw.timer.Reset(max(d, sw.after/8))
}

// sweep runs when the timer fires, holding armed: it looks at every watch
// queued, and sets the timer again for those queued after it, or lets it
// be, with armed cleared, when there are none.
func (sw *sweeper) sweep() {
	next, now := sw.after, time.Now() // one reading for every watch looked at
	for w := sw.head.Swap(nil); w != nil; {
		// w's link is read, and cleared, before w may be queued again.
		n := w.next
		w.next = nil
		w.queued.Store(false)
		if wait, ok := w.look(now); ok && sw.push(w) {
			next = min(next, wait)
		}
		w = n
	}
	if sw.head.Load() != nil {
		sw.set(next, sw.after)
		return
	}
	sw.armed.Store(false)
	// A watch queued after the look above found armed set, and left the
	// timer to this sweep.
	if sw.head.Load() != nil && sw.armed.CompareAndSwap(false, true) {
		sw.set(sw.after, sw.after)
	}
}
