package upstream

import (
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/sluicehq/sluice/internal/problem"
)

// BreakerSettings configure the circuit breaker of each service. The zero
// value is usable: see the field comments for the defaults.
type BreakerSettings struct {
	// ConsecutiveFaults opens the breaker. Zero means 5.
	ConsecutiveFaults uint32
	// OpenFor is how long the breaker stays open before it lets probes
	// through. Zero means 5s.
	OpenFor time.Duration
	// Probes is how many requests a half-open breaker lets through; that
	// many successes close it, one fault opens it again. Zero means 1.
	Probes uint32
	// OnStateChange, when set, is told of every transition, for metrics
	// and logs.
	OnStateChange func(service string, from, to gobreaker.State)
}

// Breakers holds one circuit breaker per service. They count only
// dependency faults (Outcome.Fault): business errors and the caller's own
// cancellations never open a breaker. Breakers outlive configuration
// reloads: main owns them and hands them to each Client. Safe for concurrent
// use.
type Breakers struct {
	settings BreakerSettings
	m        sync.Map // service → *gobreaker.TwoStepCircuitBreaker[struct{}]
}

// NewBreakers returns an empty set of breakers with settings s.
func NewBreakers(s BreakerSettings) *Breakers {
	if s.ConsecutiveFaults == 0 {
		s.ConsecutiveFaults = 5
	}
	if s.OpenFor <= 0 {
		s.OpenFor = 5 * time.Second
	}
	if s.Probes == 0 {
		s.Probes = 1
	}
	return &Breakers{settings: s}
}

// errExcluded marks an attempt the breaker must not count either way.
var errExcluded = errors.New("upstream: not counted")

// errFault marks a dependency fault.
var errFault = errors.New("upstream: dependency fault")

func (b *Breakers) get(service string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	if v, ok := b.m.Load(service); ok {
		return v.(*gobreaker.TwoStepCircuitBreaker[struct{}])
	}
	s := b.settings
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        service,
		MaxRequests: s.Probes,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.ConsecutiveFaults },
		IsExcluded:  func(err error) bool { return err == errExcluded },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if s.OnStateChange != nil {
				s.OnStateChange(name, from, to)
			}
		},
	})
	v, _ := b.m.LoadOrStore(service, cb)
	return v.(*gobreaker.TwoStepCircuitBreaker[struct{}])
}

// allow asks service's breaker for an attempt. The returned report must be
// called with the attempt's outcome.
func (b *Breakers) allow(service string) (report func(Outcome), err error) {
	done, err := b.get(service).Allow()
	if err != nil {
		return nil, &CircuitOpenError{Service: service, Err: err}
	}
	return func(o Outcome) {
		switch {
		case o.Fault():
			done(errFault)
		case o == Abandoned || o == ClientFault:
			done(errExcluded)
		default:
			done(nil)
		}
	}, nil
}

// BreakerState is a breaker's state, for admin endpoints and metrics.
type BreakerState struct {
	Service           string `json:"service"`
	State             string `json:"state"`
	ConsecutiveFaults uint32 `json:"consecutive_faults"`
}

// States lists every breaker's state, sorted by service.
func (b *Breakers) States() []BreakerState {
	var out []BreakerState
	b.m.Range(func(k, v any) bool {
		cb := v.(*gobreaker.TwoStepCircuitBreaker[struct{}])
		out = append(out, BreakerState{Service: k.(string), State: cb.State().String(),
			ConsecutiveFaults: cb.Counts().ConsecutiveFailures})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// CircuitOpenError reports a call refused because the service's breaker is
// open (or half-open and already probing). Nothing was sent and no budget was
// spent; it maps to 503 and is not retried.
type CircuitOpenError struct {
	Service string
	Err     error
}

func (e *CircuitOpenError) Error() string {
	return "upstream: circuit open for service " + e.Service + ": " + e.Err.Error()
}

func (e *CircuitOpenError) Unwrap() error { return e.Err }

// RetryAdvice implements rpc.RetryAdvisor: the layers above should not
// retry what this hop's breaker refuses.
func (e *CircuitOpenError) RetryAdvice() string { return RetryNo }

// Problem implements rpc.Problemer.
func (e *CircuitOpenError) Problem() (int, string, string) {
	return http.StatusServiceUnavailable, problem.TypeCircuitOpen, "Circuit open"
}
