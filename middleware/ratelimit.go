package middleware

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
)

// DefaultMaxKeys is the number of client buckets a RateLimiter keeps when
// its settings say nothing.
const DefaultMaxKeys = 100_000

// RateLimitSettings configure a RateLimiter: a token bucket per client key.
type RateLimitSettings struct {
	// RPS is the rate at which each bucket refills, in requests per second.
	RPS float64
	// Burst is each bucket's size: how many requests a client that has been
	// quiet may send at once. At least 1.
	Burst int
	// MaxKeys bounds the buckets kept; zero means DefaultMaxKeys.
	MaxKeys int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// RateLimiter holds the token buckets of one rate limit, one per client key,
// in a table bounded by MaxKeys (see keyTable for the eviction rule). It is
// safe for concurrent use, and outlives configuration reloads when the
// caller keeps it.
type RateLimiter struct {
	table *keyTable
	rps   float64
	now   func() time.Time
}

// NewRateLimiter checks s and returns a limiter with every bucket full.
func NewRateLimiter(s RateLimitSettings) (*RateLimiter, error) {
	if !(s.RPS > 0) || math.IsInf(s.RPS, 0) {
		return nil, errors.New("rps must be a number above 0")
	}
	if s.Burst < 1 {
		return nil, errors.New("burst must be at least 1")
	}
	if s.MaxKeys < 0 {
		return nil, errors.New("max_keys must not be negative")
	}
	if s.MaxKeys == 0 {
		s.MaxKeys = DefaultMaxKeys
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &RateLimiter{table: newKeyTable(rate.Limit(s.RPS), s.Burst, s.MaxKeys), rps: s.RPS, now: s.Now}, nil
}

// Len returns the number of client buckets the limiter holds.
func (l *RateLimiter) Len() int { return l.table.len() }

// RateLimitPolicy says how one route draws from a RateLimiter.
type RateLimitPolicy struct {
	// Name names the limit in the RateLimit-Policy and RateLimit header
	// fields (the route's name); empty means "default".
	Name string
	// Key picks a request's bucket.
	Key RateLimitKey
	// MaxWait is how long a request over the limit may wait for a token,
	// never longer than its budget allows; zero refuses it at once.
	MaxWait time.Duration
	// Budget is the route's budget policy, which bounds the wait: a request
	// waits only as long as at least Budget.Min of its budget, charged from
	// its arrival (Recorder.Arrival), would remain.
	Budget budget.Policy
	// OnLimited, when not nil, is called for each request refused.
	OnLimited func()
	// Sleep waits for d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Middleware returns middleware that lets a request through when its
// client's bucket has a token, and otherwise answers 429 with Retry-After
// (whole seconds, rounded up) and a rate-limited problem body, after
// waiting up to p.MaxWait when that is enough. Either answer carries the
// RateLimit-Policy and RateLimit header fields (see ratelimitheaders.go).
// It must run inside AccessLog, so that the wait is charged to the
// request's budget.
func (l *RateLimiter) Middleware(p RateLimitPolicy) func(http.Handler) http.Handler {
	if p.Sleep == nil {
		p.Sleep = sleepCtx
	}
	fields := newRateLimitFields(p.Name, l.rps, l.table.burst)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf [keyBufLen]byte
			key := p.Key.append(buf[:0], r)
			now := l.now()
			lim := l.table.get(key, now)
			ok := lim.AllowN(now, 1)
			l.setFields(w.Header(), fields, lim, now)
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			var retry time.Duration
			if p.MaxWait > 0 {
				res := lim.ReserveN(now, 1)
				retry = res.DelayFrom(now)
				if retry <= min(p.MaxWait, p.waitAllowed(w, r, now)) {
					if err := p.Sleep(r.Context(), retry); err != nil {
						res.CancelAt(l.now())
						return // the client left: the access log says 499
					}
					next.ServeHTTP(w, r)
					return
				}
				res.CancelAt(now)
			} else {
				retry = seconds((1 - lim.TokensAt(now)) / l.rps)
			}
			if p.OnLimited != nil {
				p.OnLimited()
			}
			writeTooMany(w, retry)
		})
	}
}

// setFields sets the RateLimit fields from lim's tokens at now.
func (l *RateLimiter) setFields(h http.Header, f rateLimitFields, lim *rate.Limiter, now time.Time) {
	tokens := lim.TokensAt(now)
	f.set(h, int(math.Floor(tokens)), seconds((float64(l.table.burst)-tokens)/l.rps))
}

// allowLocal takes a token of key's bucket at now, for a global limit's
// fail-open share, and sets the RateLimit fields from it; it returns
// whether the request may pass and, when not, how long until it could.
func (l *RateLimiter) allowLocal(h http.Header, f rateLimitFields, key []byte) (bool, time.Duration) {
	now := l.now()
	lim := l.table.get(key, now)
	ok := lim.AllowN(now, 1)
	l.setFields(h, f, lim, now)
	if ok {
		return true, 0
	}
	return false, seconds((1 - lim.TokensAt(now)) / l.rps)
}

// waitAllowed returns how long r may wait and keep at least the route's
// minimum budget: the deadline its budget would get, charged from its
// arrival, less the minimum, less now. A request whose budget ask is bad
// may not wait (the router refuses it anyway).
func (p *RateLimitPolicy) waitAllowed(w http.ResponseWriter, r *http.Request, now time.Time) time.Duration {
	start := now
	if a, ok := w.(interface{ Arrival() time.Time }); ok {
		start = a.Arrival()
	}
	grant, err := p.Budget.Originate(r.Header, false)
	if err != nil {
		return 0
	}
	left := start.Add(grant).Sub(now) - p.Budget.MinOrDefault()
	if dl, ok := r.Context().Deadline(); ok {
		left = min(left, dl.Sub(now))
	}
	return max(left, 0)
}

// writeTooMany answers 429 with Retry-After in whole seconds, at least 1.
func writeTooMany(w http.ResponseWriter, retry time.Duration) {
	secs := max(int64(math.Ceil(retry.Seconds())), 1)
	s := strconv.FormatInt(secs, 10)
	w.Header().Set("Retry-After", s)
	problem.Write(w, http.StatusTooManyRequests, problem.TypeRateLimited, "Rate limited",
		"this client is over the route's rate limit; retry after "+s+" s")
}

// seconds converts s to a Duration, capped at a year (a tiny rps can ask
// for more than a Duration holds).
func seconds(s float64) time.Duration {
	const year = 365 * 24 * time.Hour
	if s >= year.Seconds() {
		return year
	}
	return time.Duration(s * float64(time.Second))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
