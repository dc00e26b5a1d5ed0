package h1

import (
	"sync"
	"time"
)

// Why a conn's deadline timer is moved only when it must be.
//
// A round trip with a deadline (its own, or a lean context's) closes its
// conn when the deadline passes, through one timer the conn keeps for its
// life. Resetting that timer at the start of every round trip and
// stopping it at every end costs two updates of the runtime's timer heap a
// request, and the heap's upkeep on the scheduler's path: about half a
// microsecond of a proxied request's CPU, the largest single item of the
// upstream client's own. Yet a kept-alive conn's deadlines nearly always
// move later, each request's budget running from its own arrival, so a
// timer set for an earlier round trip fires before the current one's
// deadline anyway. So cutTimer leaves the timer alone when it is set to
// fire no later than the new deadline, and sets it again when it fires
// early; it moves it only when the new deadline is earlier. When it fires
// it closes the conn only if a round trip is under way and that round
// trip's deadline has passed: never an idle conn, never the next round
// trip's.

// cutTimer closes a conn at the deadline of the round trip it carries.
// arm and disarm bracket each round trip; stop ends the timer for good.
type cutTimer struct {
	fire func() // closes the conn; set once, before the first arm

	mu       sync.Mutex
	t        *time.Timer
	armed    time.Time // when t is set to fire; zero: not known to be set
	deadline time.Time // the current round trip's; zero: none (or none under way)
	active   bool      // a round trip is under way (arm to disarm)
	fired    bool      // fire ran for the current round trip
	sets     int       // times t was set, for the tests
}

// arm makes fire run at deadline, unless disarm comes first.
func (c *cutTimer) arm(deadline time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline, c.fired, c.active = deadline, false, true
	c.setLocked(deadline)
}

// setLocked makes the timer fire no later than deadline.
func (c *cutTimer) setLocked(deadline time.Time) {
	if c.t == nil {
		c.t = time.AfterFunc(time.Until(deadline), c.run)
	} else if c.armed.IsZero() || deadline.Before(c.armed) {
		c.t.Reset(time.Until(deadline))
	} else {
		return // set for earlier: run sets it again then
	}
	c.armed = deadline
	c.sets++
}

// disarm ends the round trip and reports whether fire ran (or is running)
// for it: then the conn is closed and must not be reused.
func (c *cutTimer) disarm() (fired bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fired = c.fired
	c.deadline, c.fired, c.active = time.Time{}, false, false
	return fired
}

// hasFired reports whether fire ran (or is running) for the round trip
// under way.
func (c *cutTimer) hasFired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired
}

// move makes the current round trip's deadline deadline (none, when zero),
// unless fire ran for it already: a later one leaves the timer set for
// earlier, to be set again when it fires (run), as arm does; an earlier
// one sets it.
func (c *cutTimer) move(deadline time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active || c.fired {
		return
	}
	c.deadline = deadline
	if !deadline.IsZero() {
		c.setLocked(deadline)
	}
}

// stop stops the timer, which would otherwise keep the conn until it fires.
func (c *cutTimer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t != nil {
		c.t.Stop()
	}
	c.armed, c.deadline = time.Time{}, time.Time{}
}

// run is the timer's function: it fires for a round trip whose deadline
// has passed, and sets the timer again for one whose deadline is later.
func (c *cutTimer) run() {
	c.mu.Lock()
	c.armed = time.Time{}
	if c.deadline.IsZero() || c.fired {
		c.mu.Unlock()
		return
	}
	if left := time.Until(c.deadline); left > 0 {
		c.t.Reset(left)
		c.armed = c.deadline
		c.sets++
		c.mu.Unlock()
		return
	}
	c.fired = true
	c.mu.Unlock()
	c.fire()
}
