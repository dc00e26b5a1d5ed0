package middleware

import (
	"math"
	"sync/atomic"
)

// LocalShare is a replica's share of a global limit, which decides while
// the GlobalStore cannot: the limit's rate and burst divided by the
// replica count (the burst rounded up), per client key. The count comes
// from a function (a fixed number, or one counted through the store); when
// it changes, the share is rebuilt with full buckets. It is safe for
// concurrent use.
type LocalShare struct {
	limit RateLimitSettings
	count func() int
	cur   atomic.Pointer[shareAt]
}

type shareAt struct {
	n   int
	lim *RateLimiter
}

// NewLocalShare returns the share of limit (the global rate, burst and
// keys) among count() replicas; count returning less than 1 counts as 1.
func NewLocalShare(limit RateLimitSettings, count func() int) (*LocalShare, error) {
	l := &LocalShare{limit: limit, count: count}
	if _, err := l.at(max(count(), 1)); err != nil {
		return nil, err
	}
	return l, nil
}

// Settings returns the share's settings for the current count.
func (l *LocalShare) Settings() RateLimitSettings {
	s := l.limiter()
	return RateLimitSettings{RPS: s.rps, Burst: s.table.burst}
}

// limiter returns the limiter of the current count.
func (l *LocalShare) limiter() *RateLimiter {
	n := max(l.count(), 1)
	if c := l.cur.Load(); c != nil && c.n == n {
		return c.lim
	}
	lim, err := l.at(n)
	if err != nil { // cannot happen: the settings were checked at n = count()
		return l.cur.Load().lim
	}
	return lim
}

func (l *LocalShare) at(n int) (*RateLimiter, error) {
	s := l.limit
	s.RPS /= float64(n)
	s.Burst = max(1, int(math.Ceil(float64(s.Burst)/float64(n))))
	lim, err := NewRateLimiter(s)
	if err != nil {
		return nil, err
	}
	l.cur.Store(&shareAt{n: n, lim: lim})
	return lim, nil
}
