package upstream

import (
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
)

// Defaults of BreakerSettings.
const (
	DefaultBreakerWindow       = 10 * time.Second
	DefaultBreakerMinCalls     = 20
	DefaultBreakerFailureRatio = 0.8
	DefaultBreakerOpenFor      = 5 * time.Second
)

// BreakerSettings configure the circuit breaker of each service. The zero
// value is usable: see the field comments for the defaults.
//
// A breaker says "the service is down", not "a node failed": a failing node
// is ejection's business (selector.Ejector), and a call that a retry on
// another node saved is a success. So a breaker counts whole calls, not
// attempts, over a sliding window, and opens only when all of these hold:
// at least MinCalls calls ended in the window, at least FailureRatio of them
// with a dependency fault, and the faults of their attempts came from more
// than half of the service's nodes; and, when calls came from more than one
// caller (WithCaller), they still hold without the caller whose calls failed
// most (see callers.go). A call whose answer came with a body
// counts when that body ends: an answer the node cut short mid-body is a
// failed call, however good its head looked. A half-open breaker's probe
// is the exception: it counts at its answer's head, as the breaker admits
// no other call until it does.
type BreakerSettings struct {
	// Window is how far back calls count. Zero means 10s; it is kept in
	// ten slices, so a call is forgotten between Window and 1.1 Window
	// after it ended.
	Window time.Duration
	// MinCalls is the least number of calls in the window that may open
	// the breaker. Zero means 20.
	MinCalls int
	// FailureRatio is the share of calls failed by a dependency fault that
	// opens the breaker (0-1). Zero means 0.8.
	FailureRatio float64
	// OpenFor is how long the breaker stays open before it lets probes
	// through. Zero means 5s.
	OpenFor time.Duration
	// Probes is how many calls a half-open breaker lets through at once;
	// that many successes close it, one fault opens it again. Zero means 1.
	Probes int
	// OnStateChange, when set, is told of every transition, for metrics
	// and logs. It is called with the breaker's lock held: it must not
	// call back into the breakers.
	OnStateChange func(service string, from, to CircuitState)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// CircuitState is the state of a breaker.
type CircuitState int32

// The states of a breaker.
const (
	CircuitClosed CircuitState = iota
	CircuitHalfOpen
	CircuitOpen
)

// String implements fmt.Stringer.
func (s CircuitState) String() string {
	switch s {
	case CircuitClosed:
		return "closed"
	case CircuitHalfOpen:
		return "half-open"
	case CircuitOpen:
		return "open"
	}
	return "unknown"
}

// Breakers holds one circuit breaker per service. They count only
// dependency faults (Outcome.Fault): business errors, the caller's own
// cancellations, the end of its budget and faults of its own request never
// open a breaker. Breakers outlive configuration reloads: main owns them and
// hands them to each Client. Safe for concurrent use.
type Breakers struct {
	s BreakerSettings
	m sync.Map // service → *breaker
	// ownClock is true when s.Now was set: the breakers then read it
	// rather than take the time a call read (see ticket.done).
	ownClock bool
}

// NewBreakers returns an empty set of breakers with settings s.
func NewBreakers(s BreakerSettings) *Breakers {
	if s.Window <= 0 {
		s.Window = DefaultBreakerWindow
	}
	if s.MinCalls <= 0 {
		s.MinCalls = DefaultBreakerMinCalls
	}
	if s.FailureRatio <= 0 || s.FailureRatio > 1 {
		s.FailureRatio = DefaultBreakerFailureRatio
	}
	if s.OpenFor <= 0 {
		s.OpenFor = DefaultBreakerOpenFor
	}
	if s.Probes <= 0 {
		s.Probes = 1
	}
	own := s.Now != nil
	if !own {
		s.Now = time.Now
	}
	return &Breakers{s: s, ownClock: own}
}

// breakerSlices is how many slices a window is kept in.
const breakerSlices = 10

// breaker is one service's circuit breaker.
type breaker struct {
	service  string
	s        *BreakerSettings
	ownClock bool
	state    atomic.Int32 // a CircuitState; read without the lock on the fast path

	mu       sync.Mutex
	slices   [breakerSlices]breakerSlice
	faulty   map[string]time.Time // node key → when an attempt on it last failed
	nodes    int                  // the service's nodes, as the last call saw them
	openedAt time.Time
	probing  int // half-open: probes in flight
	passed   int // half-open: probes that succeeded
}

type breakerSlice struct {
	slot          int64
	calls, faults int
	callers       sliceCallers // who made the calls and who failed most: callers.go
}

func (b *Breakers) get(service string) *breaker {
	if v, ok := b.m.Load(service); ok {
		return v.(*breaker)
	}
	v, _ := b.m.LoadOrStore(service, &breaker{service: service, s: &b.s, ownClock: b.ownClock, faulty: make(map[string]time.Time)})
	return v.(*breaker)
}

// ticket is one call's admission by a breaker. The zero ticket (no
// breakers) records nothing.
type ticket struct {
	br     *breaker
	probe  bool
	caller netip.Addr // who the call is made for (WithCaller)
}

// admit asks service's breaker for a call made for caller (the zero Addr:
// the one caller of a client without WithCaller). The ticket must be ended
// with done, once.
func (b *Breakers) admit(service string, caller netip.Addr) (ticket, error) {
	if b == nil {
		return ticket{}, nil
	}
	return b.get(service).admit(caller)
}

// admit asks br, when not nil, for a call, as Breakers.admit does.
func (br *breaker) admit(caller netip.Addr) (ticket, error) {
	if br == nil {
		return ticket{}, nil
	}
	service := br.service
	if CircuitState(br.state.Load()) == CircuitClosed {
		return ticket{br: br, caller: caller}, nil
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	switch CircuitState(br.state.Load()) {
	case CircuitClosed:
		return ticket{br: br, caller: caller}, nil
	case CircuitOpen:
		if br.s.Now().Sub(br.openedAt) < br.s.OpenFor {
			return ticket{}, &CircuitOpenError{Service: service, State: CircuitOpen}
		}
		br.setState(CircuitHalfOpen)
		br.probing, br.passed = 0, 0
	}
	if br.probing >= br.s.Probes {
		return ticket{}, &CircuitOpenError{Service: service, State: CircuitHalfOpen}
	}
	br.probing++
	return ticket{br: br, probe: true, caller: caller}, nil
}

// countsAtEnd reports whether the ticket may be done when its call's
// answer's body ends rather than when the call returns: any real ticket
// but a probe's. A probe counts at its answer's head: while its probes are
// out a half-open breaker refuses every other call, and a body may stream
// for as long as its caller reads, or never be closed at all; that would
// hold the service refused for as long. A service that cuts its bodies
// then closes on a probe and opens again after MinCalls cut calls.
func (t ticket) countsAtEnd() bool { return t.br != nil && !t.probe }

// nodeFault records an attempt of the call that failed on n by a
// dependency fault, for the spread of faults over the service's nodes. now
// is when it failed, as the caller read time.Now; zero makes the breaker
// read its clock.
func (t ticket) nodeFault(n *registry.Node, now time.Time) {
	if t.br == nil {
		return
	}
	now = t.br.now(now)
	t.br.mu.Lock()
	t.br.faulty[n.Key()] = now
	t.br.mu.Unlock()
}

// done ends the call with its final outcome; nodes is how many nodes the
// service had when the call last looked, now when its last attempt ended,
// as the caller read time.Now (zero: the breaker reads its clock).
func (t ticket) done(o Outcome, nodes int, now time.Time) {
	br := t.br
	if br == nil {
		return
	}
	counted := o != Abandoned && o != ClientFault && o != Local
	fault := o.Fault()
	if !t.probe && !fault && CircuitState(br.state.Load()) == CircuitClosed && !counted {
		return
	}
	now = br.now(now)
	br.mu.Lock()
	defer br.mu.Unlock()
	if nodes > 0 {
		br.nodes = nodes
	}
	state := CircuitState(br.state.Load())
	if t.probe {
		if state != CircuitHalfOpen {
			return // a probe of an earlier half-open spell
		}
		br.probing--
		switch {
		case !counted:
		case fault:
			br.open(now)
		default:
			if br.passed++; br.passed >= br.s.Probes {
				br.close()
			}
		}
		return
	}
	if state != CircuitClosed || !counted {
		return
	}
	sl := br.slice(now)
	sl.calls++
	sl.callers.call(t.caller, sl.calls == 1)
	if !fault {
		return
	}
	sl.faults++
	sl.callers.fault(t.caller)
	if br.shouldOpen(now) {
		br.open(now)
	}
}

// inWindow yields the slices of the window that ends at now.
func (br *breaker) inWindow(now time.Time) func(yield func(*breakerSlice) bool) {
	slot := now.UnixNano() / int64(br.s.Window/breakerSlices)
	return func(yield func(*breakerSlice) bool) {
		for i := range br.slices {
			if sl := &br.slices[i]; sl.slot > slot-breakerSlices && sl.slot <= slot && !yield(sl) {
				return
			}
		}
	}
}

// now returns t, a reading of time.Now by the caller, unless it is zero or
// the breakers have a clock of their own (BreakerSettings.Now): then the
// breaker's clock.
func (br *breaker) now(t time.Time) time.Time {
	if t.IsZero() || br.ownClock {
		return br.s.Now()
	}
	return t
}

// slice returns the current slice of the window, resetting a stale one.
func (br *breaker) slice(now time.Time) *breakerSlice {
	slot := now.UnixNano() / int64(br.s.Window/breakerSlices)
	sl := &br.slices[int(slot%breakerSlices)]
	if sl.slot != slot {
		*sl = breakerSlice{slot: slot}
	}
	return sl
}

// window returns the calls and faults of the window, and how many nodes
// failed an attempt in it, forgetting older node faults.
func (br *breaker) window(now time.Time) (calls, faults, failing int) {
	for sl := range br.inWindow(now) {
		calls += sl.calls
		faults += sl.faults
	}
	for k, at := range br.faulty {
		if now.Sub(at) > br.s.Window {
			delete(br.faulty, k)
		}
	}
	return calls, faults, len(br.faulty)
}

func (br *breaker) shouldOpen(now time.Time) bool {
	calls, faults, failing := br.window(now)
	if calls < br.s.MinCalls || float64(faults) < br.s.FailureRatio*float64(calls) ||
		failing*2 <= max(br.nodes, 1) {
		return false
	}
	return br.failingForOthers(now, calls, faults)
}

func (br *breaker) open(now time.Time) {
	br.openedAt = now
	br.setState(CircuitOpen)
}

func (br *breaker) close() {
	br.slices = [breakerSlices]breakerSlice{}
	clear(br.faulty)
	br.setState(CircuitClosed)
}

func (br *breaker) setState(to CircuitState) {
	from := CircuitState(br.state.Swap(int32(to)))
	if from != to && br.s.OnStateChange != nil {
		br.s.OnStateChange(br.service, from, to)
	}
}

// BreakerState is a breaker's state, for admin endpoints and metrics: the
// calls and faults of its window, and how many nodes failed in it; and,
// when more than one caller made the calls, the caller whose calls failed
// most, whom the breaker leaves out (callers.go): a client whose faults
// are most of the window's is one sending requests the service fails.
type BreakerState struct {
	Service      string `json:"service"`
	State        string `json:"state"`
	Calls        int    `json:"calls"`
	Faults       int    `json:"faults"`
	FailingNodes int    `json:"failing_nodes"`
	Nodes        int    `json:"nodes"`
	// HeaviestCaller and HeaviestCallerFaults name the caller with most
	// faults in the window and count them (a lower bound), when calls came
	// from more than one caller and one failed.
	HeaviestCaller       string `json:"heaviest_caller,omitempty"`
	HeaviestCallerFaults int    `json:"heaviest_caller_faults,omitempty"`
}

// States lists every breaker's state, sorted by service.
func (b *Breakers) States() []BreakerState {
	var out []BreakerState
	now := b.s.Now()
	b.m.Range(func(k, v any) bool {
		br := v.(*breaker)
		br.mu.Lock()
		calls, faults, failing := br.window(now)
		st := CircuitState(br.state.Load())
		if st == CircuitOpen && now.Sub(br.openedAt) >= br.s.OpenFor {
			st = CircuitHalfOpen // the next call will probe
		}
		bs := BreakerState{Service: k.(string), State: st.String(),
			Calls: calls, Faults: faults, FailingNodes: failing, Nodes: br.nodes}
		if top, many := br.heaviest(now); many && top.faults > 0 {
			bs.HeaviestCaller, bs.HeaviestCallerFaults = top.caller.String(), top.faults
		}
		out = append(out, bs)
		br.mu.Unlock()
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
	State   CircuitState
}

// Error implements the error interface.
func (e *CircuitOpenError) Error() string {
	return "upstream: circuit " + e.State.String() + " for service " + e.Service
}

// RetryAdvice implements rpc.RetryAdvisor: the layers above should not
// retry what this hop's breaker refuses.
func (e *CircuitOpenError) RetryAdvice() string { return RetryNo }

// Problem implements rpc.Problemer.
func (e *CircuitOpenError) Problem() (int, string, string) {
	return http.StatusServiceUnavailable, problem.TypeCircuitOpen, "Circuit open"
}
