package budget

import (
	"net/http"
	"runtime"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/internal/schedlag"
)

// A backend's own overload, shed before it collapses.
//
// net/http runs every request it accepts at once, so the queue of a
// backend whose handlers need CPU is the Go scheduler's run queue, shared
// by every request in flight. Under an overload they all advance together,
// ever more slowly, and each ends past its budget, its work wasted. On a
// busy 2-core machine, a backend behind Inbound with the default policy,
// offered three times what it serves by callers with 1 s budgets that give
// up then, answered 7 to 11 % of its capacity in time (requests of about
// 3 ms of CPU, callers in the same process), 14 % with 322 handlers in
// flight (about 20 ms, callers in another process), none at all in
// TestAnOverloadedBackendKeepsItsGoodput.
// The gateway's concurrency limits shed for the nodes behind it, but a
// backend is also called directly, by other services and by anything else
// that reaches it inside the network, and nothing bounded that.
//
// The lag is that queue's wait (internal/schedlag), and it says nothing of
// the requests waiting on a slow database or a slow callee, which hold no
// CPU: an in-flight bound would have to be known per handler, a lag bound
// is not. So a request arriving while the lag is over ShedLag, with more
// than GOMAXPROCS in flight, is refused at once; the requests in
// flight then finish within their budgets, and the lag falls back.

// DefaultShedLag is ServerPolicy.ShedLag when zero: twice the Go
// scheduler's time slice (10 ms), so that a few long CPU-bound requests
// per processor, which wait a slice for each other, are not an overload.
const DefaultShedLag = 20 * time.Millisecond

// shedder decides whether a backend is overloaded (see ServerPolicy.ShedLag).
type shedder struct {
	lag   func() time.Duration // nil: never shed
	limit time.Duration
	// floor is GOMAXPROCS: fewer requests than the processors that run
	// them are not what makes the process short of CPU (a neighbour's
	// load, a garbage collection), and refusing them would not help it.
	floor int64
}

// newShedder returns the shedder of p, with its defaults.
func newShedder(p ServerPolicy) shedder {
	if p.ShedLag < 0 {
		return shedder{}
	}
	s := shedder{lag: p.Lag, limit: p.ShedLag, floor: int64(runtime.GOMAXPROCS(0))}
	if s.limit == 0 {
		s.limit = DefaultShedLag
	}
	if s.lag == nil {
		s.lag = schedlag.Own()
	}
	return s
}

// overloaded reports whether a request that makes inFlight requests in
// flight must be refused.
func (s shedder) overloaded(inFlight int64) bool {
	return s.lag != nil && inFlight > s.floor && s.lag() > s.limit
}

// refuseOverloaded answers a request shed as overloaded: 503 with no work
// done, so that its caller may send it to another node, and after a second
// to this one.
func refuseOverloaded(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Sluice-Retry", "not-processed") // upstream.RetryHeader, RetryNotProcessed
	h.Set("Retry-After", "1")
	problem.Write(w, http.StatusServiceUnavailable, problem.TypeOverloaded, "Overloaded",
		"the service is short of CPU for the requests it has in flight; no work was done")
}
