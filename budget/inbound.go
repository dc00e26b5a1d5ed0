package budget

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

// DefaultServerTimeout is the budget a backend gives a request that arrives
// without a valid Sluice-Budget field, when ServerPolicy.Default is zero.
const DefaultServerTimeout = 10 * time.Second

// ServerPolicy is a backend's budget policy for the requests it receives.
// The zero value is usable: a 10 s default, no maximum, a 1 ms minimum.
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
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Inbound returns middleware that turns the Sluice-Budget field of each request
// into its context's deadline. The deadline's context is a child of the
// request's own, so a caller that disconnects still cancels the work.
// Handlers read what they received with FromContext.
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
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			var h Header
			if v := r.Header.Values(HeaderName); len(v) > 0 {
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
			if h.Remaining < p.Min {
				problem.Write(w, http.StatusGatewayTimeout, problem.TypeBudgetTooLow,
					"Budget below the minimum", "the remaining budget is below this service's minimum; no work was done")
				return
			}
			ctx, cancel := NewContext(r.Context(), Info{
				Deadline: start.Add(h.Remaining),
				Received: h.Remaining,
				Hop:      h.Hop,
				Retries:  h.Retries,
			})
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
