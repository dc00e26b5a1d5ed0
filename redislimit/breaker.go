package redislimit

import "sync"

// breaker remembers that Redis is failing, so that while it is known to be
// down no request spends the timeout on it: after failures consecutive
// failures it opens, and allow says no at once until the Store's
// background probe (probe.go) finds Redis back and closes it. No request
// is ever the probe. This is what envoyproxy/ratelimit lacked (its issue
// #462): with Redis down, every request there waited for the client's
// timeout before failing open. It is safe for concurrent use.
type breaker struct {
	failures int

	mu    sync.Mutex
	fails int // consecutive failures while closed
	open  bool
}

// State names, as Store.State reports them.
const (
	StateClosed = "closed"
	StateOpen   = "open"
)

// allow reports whether a caller may try Redis.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.open
}

// done records the outcome of a call that allow let through, and reports
// whether this failure opened the breaker (the caller then starts the
// probe).
func (b *breaker) done(ok bool) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case ok:
		b.fails = 0
		return false
	case b.open:
		return false
	}
	b.fails++
	if b.fails < b.failures {
		return false
	}
	b.fails, b.open = 0, true
	return true
}

// close closes the breaker: Redis answered the probe.
func (b *breaker) close() {
	b.mu.Lock()
	b.fails, b.open = 0, false
	b.mu.Unlock()
}

// state returns StateClosed or StateOpen.
func (b *breaker) state() string {
	if b.allow() {
		return StateClosed
	}
	return StateOpen
}
