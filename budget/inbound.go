package budget

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/requestid"
)

// DefaultServerTimeout is the budget a backend gives a request that arrives
// without a valid Sluice-Budget field, when ServerPolicy.Default is zero.
const DefaultServerTimeout = 10 * time.Second

// ServerPolicy is a backend's budget policy for the requests it receives.
// The zero value is usable: a 10 s default, no maximum, a 1 ms minimum,
// and requests shed while the process is short of CPU for those in flight
// (ShedLag).
type ServerPolicy struct {
	// Default is the budget of a request whose Sluice-Budget field is absent or
	// malformed. Zero means DefaultServerTimeout.
	Default time.Duration
	// Max clamps every budget, received or default. Zero means no clamp.
	Max time.Duration
	// Min is the least budget worth starting: a request with less is answered
	// 504 without calling the handler. Zero means one millisecond.
	Min time.Duration
	// OnBadHeader, when not nil, is told of each malformed Sluice-Budget field
	// before the default applies, for logging. It must not write a response.
	OnBadHeader func(r *http.Request, err error)
	// Observe, when not nil, is told of every request: the budget it
	// arrived with (after the default and the clamp), and whether it was
	// refused as below Min. Package metrics records it as the budget
	// received and exhausted per hop. It must not write a response.
	Observe func(r *http.Request, h Header, refused bool)
	// ShedLag is the scheduling lag at which the backend is overloaded:
	// while the process's goroutines have waited longer than it to run
	// (the 90th percentile over the last 100 ms) and more requests than
	// GOMAXPROCS are in flight, a request is refused at once, without
	// calling the handler, with 503 overloaded, Retry-After: 1 and
	// Sluice-Retry: not-processed, which the gateway and the upstream
	// client retry on another node (see overload.go). Zero means
	// DefaultShedLag; a negative value sheds nothing.
	ShedLag time.Duration
	// Lag returns the process's recent scheduling lag; nil means the
	// process's own, sampled from the Go runtime every 100 ms. Tests set
	// it.
	Lag func() time.Duration
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Inbound returns middleware that turns the Sluice-Budget field of each request
// into its context's deadline. The deadline's context is a child of the
// request's own, so a caller that disconnects still cancels the work.
// Handlers read what they received with FromContext. A valid X-Request-Id
// on the request (see package requestid) goes into the context too, so
// that requestid.FromContext reads it and the upstream client sends it on,
// and onto the answer, so that every problem body names it.
func Inbound(p ServerPolicy) func(http.Handler) http.Handler {
	if p.Default <= 0 {
		p.Default = DefaultServerTimeout
	}
	if p.Min <= 0 {
		p.Min = time.Millisecond
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	shed := newShedder(p)
	return func(next http.Handler) http.Handler {
		var inFlight atomic.Int64 // this handler's requests, for shed
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			var h Header
			if v := r.Header[HeaderName]; len(v) > 0 { // HeaderName is canonical
				var err error
				if h, err = ParseFields(v); err != nil {
					if p.OnBadHeader != nil {
						p.OnBadHeader(r, err)
					}
					h = Header{Remaining: p.Default}
				}
			} else {
				h.Remaining = p.Default
			}
			if p.Max > 0 && h.Remaining > p.Max {
				h.Remaining = p.Max
			}
			if p.Observe != nil {
				p.Observe(r, h, h.Remaining < p.Min)
			}
			var id string
			if v := r.Header[requestid.HeaderName]; len(v) == 1 && requestid.Valid(v[0]) {
				id = v[0]
				w.Header()[requestid.HeaderName] = v // echoed, and named by every problem body
			}
			if h.Hop >= MaxChain {
				problem.Write(w, http.StatusLoopDetected, problem.TypeLoop, "Loop detected",
					fmt.Sprintf("the request has passed %d hops: it came back to a service it passed", h.Hop))
				return
			}
			if h.Remaining < p.Min {
				problem.Write(w, http.StatusGatewayTimeout, problem.TypeBudgetTooLow,
					"Budget below the minimum", "the remaining budget is below this service's minimum; no work was done")
				return
			}
			defer inFlight.Add(-1)
			if shed.overloaded(inFlight.Add(1)) {
				refuseOverloaded(w)
				return
			}
			ctx := newContext(r.Context(), Info{
				Deadline: start.Add(h.Remaining),
				Received: h.Remaining,
				Hop:      h.Hop,
				Retries:  h.Retries,
				Caller:   h.Caller,
			}, id, time.Time{})
			defer ctx.Cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
