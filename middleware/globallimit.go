package middleware

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

// RateDecision is a GlobalStore's answer for one request.
type RateDecision struct {
	// Allowed says whether the request may pass; the store has counted it.
	Allowed bool
	// Remaining is how many more requests the key may send at once.
	Remaining int
	// RetryAfter is how long until a request of the key would be allowed;
	// zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key's bucket is full again.
	ResetAfter time.Duration
}

// GlobalStore keeps the buckets of limits shared by every gateway replica
// (redislimit.Store keeps them in Redis). Allow must return within a few
// milliseconds whatever the store's state, with an error when it cannot
// decide; the caller then falls back. It must be safe for concurrent use.
type GlobalStore interface {
	Allow(ctx context.Context, key string, rps float64, burst int) (RateDecision, error)
}

// Fallback is what a global limit does when its store cannot decide.
type Fallback uint8

const (
	// FailOpen decides by a local bucket holding this replica's share of
	// the limit.
	FailOpen Fallback = iota
	// FailClosed refuses the request: 503 rate-limit-unavailable.
	FailClosed
)

// Decision sources, as GlobalRateLimitPolicy.OnDecision reports them.
const (
	SourceGlobal = "global" // the store decided
	SourceLocal  = "local"  // the store failed; the replica's share decided
	SourceClosed = "closed" // the store failed; the request was refused
)

// GlobalRateLimitPolicy says how a route draws from a limit shared by all
// replicas.
type GlobalRateLimitPolicy struct {
	// Name names the limit in the RateLimit header fields (the route's
	// name).
	Name string
	// Scope starts the store key of every client of the limit, so that
	// routes do not share buckets (the route's name, method and path).
	Scope string
	// Key picks a request's bucket.
	Key RateLimitKey
	// RPS and Burst are the limit of each key across all replicas.
	RPS   float64
	Burst int
	// Fallback says what happens when the store cannot decide.
	Fallback Fallback
	// Local is the replica's share of the limit, used with FailOpen while
	// the store cannot decide; nil refuses such requests as FailClosed
	// does.
	Local *LocalShare
	// OnLimited, when not nil, is called for each request refused with 429.
	OnLimited func()
	// OnDecision, when not nil, is called with each decision's duration
	// and source (SourceGlobal, SourceLocal or SourceClosed).
	OnDecision func(d time.Duration, source string)
	// Now returns the time for OnDecision; nil means time.Now.
	Now func() time.Time
}

// GlobalRateLimit returns middleware that asks store whether a request may
// pass under p's limit, shared by every replica. Allowed, the request goes
// on; refused, it gets 429 rate-limited with Retry-After. Both carry the
// RateLimit-Policy and RateLimit fields, with the remaining requests the
// store counted across replicas. When the store cannot decide (down, slow,
// its breaker open), p.Fallback decides: the replica's local share
// (FailOpen) or 503 rate-limit-unavailable (FailClosed).
//
// It runs once per client request, at the edge, before the upstream
// client: the gateway's own retries and hedges never reach it, so they
// never spend the client's quota.
func GlobalRateLimit(store GlobalStore, p GlobalRateLimitPolicy) func(http.Handler) http.Handler {
	if p.Now == nil {
		p.Now = time.Now
	}
	fields := newRateLimitFields(p.Name, p.RPS, p.Burst)
	prefix := p.Scope + "\x00"
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf [keyBufLen]byte
			key := p.Key.append(buf[:0], r)
			start := p.Now()
			d, err := store.Allow(r.Context(), prefix+string(key), p.RPS, p.Burst)
			source := SourceGlobal
			switch {
			case err == nil:
				fields.set(w.Header(), d.Remaining, d.ResetAfter)
			case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
				return // the client left: the access log says 499
			case p.Fallback == FailOpen && p.Local != nil:
				source = SourceLocal
				d.Allowed, d.RetryAfter = p.Local.limiter().allowLocal(w.Header(), fields, key)
			default:
				source = SourceClosed
			}
			if p.OnDecision != nil {
				p.OnDecision(p.Now().Sub(start), source)
			}
			switch {
			case source == SourceClosed:
				w.Header().Set("Retry-After", "1")
				problem.Write(w, http.StatusServiceUnavailable, problem.TypeLimiterDown, "Rate limit unavailable",
					"the route's global rate limit cannot be checked now and the route fails closed; retry after 1 s")
			case d.Allowed:
				next.ServeHTTP(w, r)
			default:
				if p.OnLimited != nil {
					p.OnLimited()
				}
				writeTooMany(w, d.RetryAfter)
			}
		})
	}
}
