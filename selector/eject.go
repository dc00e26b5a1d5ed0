package selector

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// EjectSettings configure an Ejector. The zero value is usable: see the field
// comments for the defaults, which follow Envoy's outlier detection.
type EjectSettings struct {
	// ConsecutiveFaults ejects a node. Zero means 5.
	ConsecutiveFaults int
	// BaseTime is the first ejection's length; the n-th ejection of the same
	// node lasts n times as long. Zero means 30s.
	BaseTime time.Duration
	// MaxTime caps an ejection's length. Zero means 5m.
	MaxTime time.Duration
	// MaxEjectedPercent is the largest share of a service's nodes kept out
	// at once (0-100). Zero means 50. Whatever it says, a service whose every
	// node is ejected is served by all of them ("panic"), never by none.
	MaxEjectedPercent int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Ejector keeps nodes that keep failing out of selection for a while. Only
// dependency faults should be reported as faults: business errors and the
// caller's own cancellation never count. Its memory is keyed by node identity
// (Node.Key), so it survives discovery refreshes and configuration reloads:
// main owns one and hands it down. Safe for concurrent use.
type Ejector struct {
	s       EjectSettings
	mu      sync.Mutex
	health  map[string]*nodeHealth
	ejected atomic.Int64  // nodes ejected now, or back but not yet proven
	tracked atomic.Int64  // entries in health: zero means nothing to forget
	gen     atomic.Uint64 // moves whenever an ejection starts
	views   sync.Map      // service → *atomic.Pointer[ejectView]
}

type nodeHealth struct {
	faults    int       // consecutive faults
	ejections int       // times ejected so far
	until     time.Time // ejected until; zero when not ejected
	probation bool      // back from ejection: the first fault ejects again
	back      time.Time // when it last came off probation
}

// ejectView caches Available's answer for one snapshot, so that the same
// slice comes back (and pickers are not rebuilt) until something changes.
type ejectView struct {
	src     []*registry.Node
	gen     uint64
	expires time.Time // when the earliest ejection in the view ends
	nodes   []*registry.Node
}

// NewEjector returns an Ejector with settings s.
func NewEjector(s EjectSettings) *Ejector {
	if s.ConsecutiveFaults <= 0 {
		s.ConsecutiveFaults = 5
	}
	if s.BaseTime <= 0 {
		s.BaseTime = 30 * time.Second
	}
	if s.MaxTime <= 0 {
		s.MaxTime = 5 * time.Minute
	}
	if s.MaxEjectedPercent <= 0 || s.MaxEjectedPercent > 100 {
		s.MaxEjectedPercent = 50
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &Ejector{s: s, health: make(map[string]*nodeHealth)}
}

// Report records the outcome of an attempt on n: fault is true for a
// dependency fault, false for a success.
func (e *Ejector) Report(n *registry.Node, fault bool) {
	if !fault && e.tracked.Load() == 0 {
		return // the common case: no node has failed lately
	}
	now := e.s.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	key := n.Key()
	h := e.health[key]
	if h == nil {
		if !fault {
			return
		}
		h = &nodeHealth{}
		e.health[key] = h
		e.tracked.Add(1)
	}
	if !fault {
		h.faults = 0
		if !h.until.IsZero() && !now.Before(h.until) {
			// A success after the ejection ended: off probation, back in.
			h.until, h.probation, h.back = time.Time{}, false, now
			e.ejected.Add(-1)
		}
		// Forget a node once it has been well for as long as the longest
		// ejection: its next ejection starts from BaseTime again.
		if h.until.IsZero() && (h.ejections == 0 || now.Sub(h.back) >= e.s.MaxTime) {
			delete(e.health, key) // nothing left to remember
			e.tracked.Add(-1)
		}
		return
	}
	if now.Before(h.until) {
		return // still ejected: a straggler's fault adds nothing
	}
	h.faults++
	if h.probation || h.faults >= e.s.ConsecutiveFaults {
		if h.until.IsZero() {
			e.ejected.Add(1)
		}
		h.ejections++
		h.until = now.Add(min(time.Duration(h.ejections)*e.s.BaseTime, e.s.MaxTime))
		h.faults, h.probation = 0, true
		e.gen.Add(1)
	}
}

// Available returns the nodes of service that may be picked now: nodes
// without the ejected ones, within the MaxEjectedPercent cap, and all of
// them when every one is ejected. It returns nodes itself when none is
// ejected, and the same slice for as long as the answer is unchanged.
func (e *Ejector) Available(service string, nodes []*registry.Node) []*registry.Node {
	if e.ejected.Load() == 0 || len(nodes) == 0 {
		return nodes
	}
	v, ok := e.views.Load(service)
	if !ok {
		v, _ = e.views.LoadOrStore(service, new(atomic.Pointer[ejectView]))
	}
	p := v.(*atomic.Pointer[ejectView])
	now := e.s.Now()
	gen := e.gen.Load()
	if view := p.Load(); view != nil && sameSlice(view.src, nodes) && view.gen == gen &&
		(view.expires.IsZero() || now.Before(view.expires)) {
		return view.nodes
	}
	view := e.compute(nodes, now, gen)
	p.Store(view)
	return view.nodes
}

func (e *Ejector) compute(nodes []*registry.Node, now time.Time, gen uint64) *ejectView {
	type out struct {
		n     *registry.Node
		until time.Time
	}
	var keep []*registry.Node
	var outs []out
	e.mu.Lock()
	for _, n := range nodes {
		if h := e.health[n.Key()]; h != nil && now.Before(h.until) {
			outs = append(outs, out{n, h.until})
		} else {
			keep = append(keep, n)
		}
	}
	e.mu.Unlock()
	view := &ejectView{src: nodes, gen: gen}
	if len(outs) == 0 {
		view.nodes = nodes
		return view
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].until.Before(outs[j].until) })
	if len(keep) == 0 {
		// Panic: every node is ejected. Serve them all rather than none,
		// until the first ejection ends.
		view.nodes, view.expires = nodes, outs[0].until
		return view
	}
	// Cap the share kept out; the nodes due back soonest return first.
	maxOut := len(nodes) * e.s.MaxEjectedPercent / 100
	for len(outs) > maxOut {
		keep = append(keep, outs[0].n)
		outs = outs[1:]
	}
	if len(outs) > 0 {
		view.expires = outs[0].until
	}
	if len(keep) == len(nodes) {
		view.nodes = nodes
	} else {
		view.nodes = keep
	}
	return view
}

// Ejection describes one ejected node, for admin endpoints.
type Ejection struct {
	Node      string    `json:"node"`
	Until     time.Time `json:"until"`
	Ejections int       `json:"ejections"`
}

// Ejections lists the nodes ejected now, sorted by identity.
func (e *Ejector) Ejections() []Ejection {
	now := e.s.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Ejection
	for key, h := range e.health {
		if now.Before(h.until) {
			out = append(out, Ejection{Node: key, Until: h.until, Ejections: h.ejections})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func sameSlice(a, b []*registry.Node) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
