// Package logsample bounds how many lines a fault that repeats on every
// request writes to the log.
//
// # Why
//
// The router logs a line for each request it answers with a failure: the
// upstream call failed, the answer was cut short. One line per failure is
// what an operator wants while failures are rare, and a flood when every
// request fails alike: a service whose every node is at its concurrency
// limit under a 3× overload made the gateway write a WARN line per shed
// request, 120 a second in the chaos suite's overload, thousands a second at
// a real gateway's rate, each formatted and written while the gateway is
// busiest. The metrics count every failure; the log needs the first few of
// each kind and how many more there were. Envoy throttles its own repeated
// log lines the same way.
//
// A Sampler lets the first Per lines of each key through in every Window
// and counts the rest; the next line of the key let through says how many
// were dropped before it. A key is what makes lines alike (the router's:
// route and message).
package logsample

import (
	"sync"
	"time"
)

// maxKeys bounds the keys a Sampler remembers: past it, it forgets them
// all, which at worst lets a few more lines through.
const maxKeys = 4096

// Sampler lets through the first Per lines of each key in every Window.
// Safe for concurrent use.
type Sampler struct {
	per    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*count
}

// count is one key's state.
type count struct {
	start   time.Time // when its window began
	passed  int       // lines let through in the window
	dropped int       // lines dropped since the last one let through
}

// New returns a Sampler that lets per lines of each key through in every
// window, reading the time from now (nil: time.Now).
func New(per int, window time.Duration, now func() time.Time) *Sampler {
	if now == nil {
		now = time.Now
	}
	return &Sampler{per: per, window: window, now: now, keys: make(map[string]*count)}
}

// Allow reports whether a line of key goes to the log, and, when it does,
// how many lines of key were dropped since the last one that went.
func (s *Sampler) Allow(key string) (ok bool, dropped int) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.keys[key]
	if c == nil {
		if len(s.keys) >= maxKeys {
			clear(s.keys)
		}
		c = &count{start: now}
		s.keys[key] = c
	}
	if now.Sub(c.start) >= s.window {
		c.start, c.passed = now, 0
	}
	if c.passed >= s.per {
		c.dropped++
		return false, 0
	}
	c.passed++
	dropped, c.dropped = c.dropped, 0
	return true, dropped
}
