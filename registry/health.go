package registry

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults of a HealthCheck's zero fields, stated once here.
//
// Two failures in a row, five seconds apart, take a broken node out in
// about ten seconds, while one lost probe (a pause, a dropped packet) does
// not; one pass brings it back, since passive ejection still guards the
// requests it then gets. A health endpoint answers at once or not at all:
// a second bounds a probe well inside the interval.
const (
	DefaultHealthInterval           = 5 * time.Second
	DefaultHealthTimeout            = time.Second
	DefaultHealthUnhealthyThreshold = 2
	DefaultHealthHealthyThreshold   = 1
)

// HealthCheck is the active check of the nodes of one service.
type HealthCheck struct {
	// Path is what each probe asks for with GET.
	Path string
	// Interval is the time from the end of one probe of a node to the
	// start of the next. Zero means DefaultHealthInterval.
	Interval time.Duration
	// Timeout bounds one probe. Zero means DefaultHealthTimeout.
	Timeout time.Duration
	// UnhealthyThreshold is how many probes in a row must fail to take a
	// healthy node out. Zero means DefaultHealthUnhealthyThreshold.
	UnhealthyThreshold int
	// HealthyThreshold is how many in a row must pass to bring an
	// unhealthy node back. Zero means DefaultHealthHealthyThreshold.
	HealthyThreshold int
}

// WithDefaults returns c with its zero fields replaced by the defaults.
func (c HealthCheck) WithDefaults() HealthCheck {
	if c.Interval <= 0 {
		c.Interval = DefaultHealthInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultHealthTimeout
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = DefaultHealthUnhealthyThreshold
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = DefaultHealthHealthyThreshold
	}
	return c
}

// HealthOptions configure a Health.
type HealthOptions struct {
	// Checks are the checks by service name; the services without one are
	// passed through unfiltered.
	Checks map[string]HealthCheck
	// Probe checks node once with path, within ctx (the check's timeout);
	// nil means a pass. It is never called twice at once for one node.
	Probe func(ctx context.Context, n *Node, path string) error
	// OnCheck, when set, is told the result of every probe, once the
	// node's health follows it.
	OnCheck func(service string, err error)
	// OnChange, when set, is told each change of a node's health, with the
	// error of the probe that failed it last (nil when it became healthy),
	// and how many of the service's nodes are healthy now of how many.
	OnChange func(n *Node, healthy bool, err error, healthyNodes, nodes int)
	// OnFailOpen, when set, is told when every node of a service becomes
	// unhealthy (open is true: all are served) and when one recovers.
	OnFailOpen func(service string, open bool)
	// After waits between probes; nil means time.After. Tests drive it.
	After func(time.Duration) <-chan time.Time
	// Jitter returns the wait before a node's first probe, given the
	// interval; nil means a random part of it, so that replicas of the
	// gateway started together do not probe in step.
	Jitter func(time.Duration) time.Duration
}

// Health is a Registry that leaves out of the nodes of a Static those that
// fail their service's active health check, for a static registry, which
// has no checks of its own (Consul's agent runs them for a Cache). It
// changes neither the Static nor what Names writes into it: it filters what
// the client reads, and its Watch wakes on a change of health as on a
// change of nodes.
//
// A node starts healthy, so that a start, a reload or a DNS refresh never
// empties a service; it leaves after UnhealthyThreshold failed probes in a
// row and comes back after HealthyThreshold passes in a row. When every node
// of a service is unhealthy, all are served (fail open, as Envoy's panic
// mode): a check that fails everywhere more likely is wrong than every
// node, and passive ejection still judges the requests.
type Health struct {
	static *Static
	opts   HealthOptions

	mu   sync.Mutex
	svcs map[string]*healthService
}

type healthService struct {
	check   HealthCheck
	nodes   map[string]*nodeHealth // by Key, the nodes the Static holds
	gen     uint64                 // grows on every change of health
	changed chan struct{}          // closed and replaced when gen grows
	open    bool                   // every node unhealthy: all served

	// The last filtered slice, kept so that Lookup returns the same slice
	// until the nodes or their health change.
	src    []*Node
	srcGen uint64
	out    []*Node
}

type nodeHealth struct {
	healthy       bool
	fails, passes int
	stop          context.CancelFunc
}

var _ Registry = (*Health)(nil)

// NewHealth returns a Health over st with opts.
func NewHealth(st *Static, opts HealthOptions) *Health {
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration { return rand.N(d) + 1 }
	}
	h := &Health{static: st, opts: opts, svcs: make(map[string]*healthService)}
	for name, c := range opts.Checks {
		h.svcs[name] = &healthService{check: c.WithDefaults(), nodes: make(map[string]*nodeHealth),
			changed: make(chan struct{})}
	}
	return h
}

// Lookup implements Registry: the Static's nodes, the unhealthy ones left
// out unless none is healthy. The slice is shared and stays the same until
// the nodes or their health change.
func (h *Health) Lookup(ctx context.Context, service string) ([]*Node, error) {
	nodes, err := h.static.Lookup(ctx, service)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.svcs[service]
	if s == nil {
		return nodes, nil
	}
	return s.filter(nodes), nil
}

// filter returns nodes without the unhealthy ones, or all of them when none
// is healthy. Nodes the checker has not seen yet are healthy.
func (s *healthService) filter(nodes []*Node) []*Node {
	if s.out != nil && s.srcGen == s.gen && sameSlice(s.src, nodes) {
		return s.out
	}
	out := make([]*Node, 0, len(nodes))
	for _, n := range nodes {
		if nh := s.nodes[n.Key()]; nh == nil || nh.healthy {
			out = append(out, n)
		}
	}
	if len(out) == 0 || len(out) == len(nodes) {
		out = nodes
	}
	s.src, s.srcGen, s.out = nodes, s.gen, out
	return out
}

// sameSlice reports whether a and b are the same slice (the Static keeps
// one until the service changes).
func sameSlice(a, b []*Node) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Watch implements Registry. The index is the Static's plus the count of the
// service's changes of health, so that it grows with either.
func (h *Health) Watch(ctx context.Context, service string, index uint64) (Snapshot, error) {
	h.mu.Lock()
	s := h.svcs[service]
	h.mu.Unlock()
	if s == nil {
		return h.static.Watch(ctx, service, index)
	}
	for {
		snap, err := h.static.Watch(ctx, service, 0)
		if err != nil {
			return Snapshot{}, err
		}
		h.mu.Lock()
		gen, changed := s.gen, s.changed
		nodes := s.filter(snap.Nodes)
		h.mu.Unlock()
		cur := Snapshot{Nodes: nodes, Index: snap.Index + gen}
		if index == 0 || cur.Index != index {
			return cur, nil
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = h.static.Watch(wctx, service, snap.Index)
		}()
		select {
		case <-done:
		case <-changed:
		case <-ctx.Done():
		}
		cancel()
		<-done
		if err := ctx.Err(); err != nil {
			return cur, err
		}
	}
}

// Register implements Registry, on the Static.
func (h *Health) Register(ctx context.Context, r Registration) error {
	return h.static.Register(ctx, r)
}

// Deregister implements Registry, on the Static.
func (h *Health) Deregister(ctx context.Context, service, id string) error {
	return h.static.Deregister(ctx, service, id)
}

// Run checks the nodes of each service with a check until ctx ends, and
// returns once every probe has stopped: it follows the Static's nodes as
// they come and go (reloads, DNS refreshes), one probing goroutine a node,
// so that one node's probes never overlap.
func (h *Health) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for service := range h.svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.follow(ctx, service, &wg)
		}()
	}
	wg.Wait()
}

// follow keeps one probing goroutine for each node of service the Static
// holds.
func (h *Health) follow(ctx context.Context, service string, wg *sync.WaitGroup) {
	var index uint64
	for {
		snap, err := h.static.Watch(ctx, service, index)
		if err != nil {
			h.reconcile(ctx, service, nil, wg)
			return
		}
		index = snap.Index
		h.reconcile(ctx, service, snap.Nodes, wg)
	}
}

// reconcile starts probing the nodes new to service and forgets those gone.
func (h *Health) reconcile(ctx context.Context, service string, nodes []*Node, wg *sync.WaitGroup) {
	h.mu.Lock()
	s := h.svcs[service]
	keep := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		k := n.Key()
		keep[k] = true
		if s.nodes[k] != nil {
			continue
		}
		pctx, stop := context.WithCancel(ctx)
		s.nodes[k] = &nodeHealth{healthy: true, stop: stop}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.probeLoop(pctx, service, n, s.check)
		}()
	}
	for k, nh := range s.nodes {
		if !keep[k] {
			nh.stop()
			delete(s.nodes, k)
		}
	}
	note := s.noteOpen()
	h.mu.Unlock()
	note(h.opts.OnFailOpen, service)
}

// noteOpen updates whether every node of s is unhealthy, and returns what
// tells OnFailOpen of a change, to call without the lock.
func (s *healthService) noteOpen() func(func(string, bool), string) {
	healthy, _ := s.count()
	open := len(s.nodes) > 0 && healthy == 0
	if open == s.open {
		return func(func(string, bool), string) {}
	}
	s.open = open
	return func(f func(string, bool), service string) {
		if f != nil {
			f(service, open)
		}
	}
}

// count returns how many of s's nodes are healthy, of how many.
func (s *healthService) count() (healthy, total int) {
	for _, nh := range s.nodes {
		if nh.healthy {
			healthy++
		}
	}
	return healthy, len(s.nodes)
}

// probeLoop probes n every interval, the first time after a random part of
// it, until ctx ends.
func (h *Health) probeLoop(ctx context.Context, service string, n *Node, c HealthCheck) {
	wait := h.opts.Jitter(c.Interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.opts.After(wait):
		}
		pctx, cancel := context.WithTimeout(ctx, c.Timeout)
		err := h.opts.Probe(pctx, n, c.Path)
		cancel()
		if ctx.Err() != nil {
			return // the node left, or the checker stops: no verdict
		}
		h.record(service, n, err)
		wait = c.Interval
	}
}

// record counts one probe of n and changes its health when a threshold is
// reached.
func (h *Health) record(service string, n *Node, err error) {
	if h.opts.OnCheck != nil {
		defer h.opts.OnCheck(service, err) // once the verdict is in
	}
	h.mu.Lock()
	s := h.svcs[service]
	nh := s.nodes[n.Key()]
	if nh == nil {
		h.mu.Unlock()
		return
	}
	was := nh.healthy
	if err == nil {
		nh.fails, nh.passes = 0, nh.passes+1
		nh.healthy = nh.healthy || nh.passes >= s.check.HealthyThreshold
	} else {
		nh.fails, nh.passes = nh.fails+1, 0
		nh.healthy = nh.healthy && nh.fails < s.check.UnhealthyThreshold
	}
	if nh.healthy == was {
		h.mu.Unlock()
		return
	}
	s.gen++
	close(s.changed)
	s.changed = make(chan struct{})
	healthy, total := s.count()
	note := s.noteOpen()
	h.mu.Unlock()
	if h.opts.OnChange != nil {
		h.opts.OnChange(n, !was, err, healthy, total)
	}
	note(h.opts.OnFailOpen, service)
}

// HealthStatus is how many nodes of a checked service are healthy.
type HealthStatus struct {
	Service        string
	Healthy, Nodes int
}

// Status returns the health of each checked service's nodes, for metrics.
func (h *Health) Status() []HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HealthStatus, 0, len(h.svcs))
	for name, s := range h.svcs {
		healthy, total := s.count()
		out = append(out, HealthStatus{Service: name, Healthy: healthy, Nodes: total})
	}
	return out
}
