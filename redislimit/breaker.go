package redislimit

import (
	"sync"
	"time"
)

// breaker remembers that Redis is failing, so that while it is known to be
// down no request spends the timeout on it: after failures consecutive
// failures it opens for cooldown, during which allow says no at once; then
// one caller at a time probes (half-open), and the first success closes it.
// This is what envoyproxy/ratelimit lacked (its issue #462): with Redis
// down, every request there waited for the client's timeout before failing
// open. It is safe for concurrent use.
type breaker struct {
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu        sync.Mutex
	fails     int       // consecutive failures while closed
	openUntil time.Time // zero when closed
	probing   bool      // a half-open probe is in flight
}

// State names, as State reports them.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

// allow reports whether the caller may try Redis; probe is true when the
// caller is the one half-open probe, which must then report its outcome.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openUntil.IsZero() {
		return true, false
	}
	if b.probing || b.now().Before(b.openUntil) {
		return false, false
	}
	b.probing = true
	return true, true
}

// done records the outcome of a call that allow let through.
func (b *breaker) done(probe, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if ok {
		b.fails, b.openUntil = 0, time.Time{}
		return
	}
	if probe || !b.openUntil.IsZero() {
		b.openUntil = b.now().Add(b.cooldown)
		return
	}
	b.fails++
	if b.fails >= b.failures {
		b.fails = 0
		b.openUntil = b.now().Add(b.cooldown)
	}
}

// release ends a probe that proved nothing (its caller left): the next
// caller probes instead.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// state returns StateClosed, StateOpen or StateHalfOpen.
func (b *breaker) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return StateClosed
	case b.probing || !b.now().Before(b.openUntil):
		return StateHalfOpen
	}
	return StateOpen
}
