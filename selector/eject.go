package selector

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// Defaults of EjectSettings.
const (
	DefaultEjectFaults     = 5
	DefaultEjectBaseTime   = 2 * time.Second
	DefaultEjectMaxTime    = 30 * time.Second
	DefaultEjectMaxPercent = 50
	DefaultRefusedFor      = 250 * time.Millisecond
)

// EjectSettings configure an Ejector. The zero value is usable: see the field
// comments for the defaults. They follow Envoy's outlier detection, with
// ejections short enough for nodes that restart in seconds.
type EjectSettings struct {
	// ConsecutiveFaults ejects a node. Zero means 5.
	ConsecutiveFaults int
	// BaseTime is the first ejection's length; the n-th ejection of the same
	// node lasts n times as long, up to MaxTime. Zero means 2s.
	BaseTime time.Duration
	// MaxTime caps an ejection's length. Zero means 30s.
	MaxTime time.Duration
	// MaxEjectedPercent is the largest share of a service's nodes kept out
	// at once (0-100), nodes that refused connections included. Zero means
	// 50. When every node is ejected, the ones due back soonest serve,
	// within the same cap; a service is never left with no node.
	MaxEjectedPercent int
	// RefusedFor is how long a node that refused a connection (Refused)
	// is kept out of selection, while another node is available: it is
	// known dead, and a refusal is instant, so a node that refuses would
	// otherwise draw traffic. One attempt per RefusedFor then probes it.
	// Zero means 250ms.
	RefusedFor time.Duration
	// OnEject, when set, is told of every ejection as it starts (a node
	// ejected again from probation included), for metrics. It is called
	// with the Ejector's lock held: it must not call back into it.
	OnEject func(n *registry.Node)
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
	ejected atomic.Int64             // nodes ejected now, or back but not yet proven
	refused atomic.Int64             // nodes whose last connection was refused
	tracked atomic.Int64             // entries in health: zero means nothing to forget
	gen     atomic.Uint64            // moves whenever an ejection starts
	views   sync.Map                 // service → *atomic.Pointer[ejectView]
	faults  map[string]*recentFaults // service → its callers' last faults: caller_eject.go
	sweepAt int                      // size of health past which the next entry sweeps it (forgetHealth)
}

type nodeHealth struct {
	faults    int        // consecutive faults
	caller    netip.Addr // the caller of the first of them
	many      bool       // another caller's fault is among them
	ejections int        // times ejected so far
	until     time.Time  // ejected until; zero when not ejected
	probation bool       // back from ejection: the first fault ejects again
	back      time.Time  // when it last came off probation
	refused   time.Time  // when a connection to it was last refused; zero once it answered
	instance  string     // the start mark (registry.MetaInstance) of its last fault
	last      time.Time  // its last fault or refusal
}

// A node's entry is deleted by its next success once it is well (see
// ReportOf); a node that leaves discovery after its faults or its refused
// connections (a process killed before it deregistered, an instance
// replaced at a deploy) has no next success, and its entry stayed for as
// long as the process ran, one per node that ever left that way: 100,000
// such nodes held 100,000 entries, and kept every call of every service on
// Available's slower path. So when health has doubled since the last
// sweep, a new entry first forgets the nodes neither ejected now nor
// failing or refusing for healthForget (or MaxTime, if longer): at worst
// one that is still there starts its next ejection from BaseTime.
const (
	healthForget   = 10 * time.Minute
	minHealthSweep = 1024
)

// addLocked makes the entry of the node whose key is key, sweeping health
// first when it has doubled since the last sweep; e.mu is held.
func (e *Ejector) addLocked(key string, now time.Time) *nodeHealth {
	if len(e.health) >= max(e.sweepAt, minHealthSweep) {
		forget := max(healthForget, e.s.MaxTime)
		for k, h := range e.health {
			if now.Before(h.until) || now.Sub(h.last) < forget {
				continue
			}
			if !h.until.IsZero() {
				e.ejected.Add(-1)
			}
			if !h.refused.IsZero() {
				e.refused.Add(-1)
			}
			delete(e.health, k)
			e.tracked.Add(-1)
		}
		e.sweepAt = 2 * len(e.health)
		e.gen.Add(1)
	}
	h := &nodeHealth{}
	e.health[key] = h
	e.tracked.Add(1)
	return h
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
		s.ConsecutiveFaults = DefaultEjectFaults
	}
	if s.BaseTime <= 0 {
		s.BaseTime = DefaultEjectBaseTime
	}
	if s.MaxTime <= 0 {
		s.MaxTime = DefaultEjectMaxTime
	}
	if s.MaxEjectedPercent <= 0 || s.MaxEjectedPercent > 100 {
		s.MaxEjectedPercent = DefaultEjectMaxPercent
	}
	if s.RefusedFor <= 0 {
		s.RefusedFor = DefaultRefusedFor
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &Ejector{s: s, health: make(map[string]*nodeHealth), faults: make(map[string]*recentFaults)}
}

// Report records the outcome of an attempt on n: fault is true for a
// dependency fault, false for a success. Every call counts as one
// caller's: see ReportOf.
func (e *Ejector) Report(n *registry.Node, fault bool) {
	e.ReportOf(n, fault, netip.Addr{}, false)
}

// ReportOf records the outcome of an attempt on n made for caller (the
// client the call serves, the zero Addr when unknown), as Report does;
// others tells whether other callers called n's service lately. One
// caller's faults, when they come on other nodes of the service too and
// others call, do not eject n: see caller_eject.go.
func (e *Ejector) ReportOf(n *registry.Node, fault bool, caller netip.Addr, others bool) {
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
		h = e.addLocked(key, now)
	}
	if !fault {
		h.faults = 0
		if !h.refused.IsZero() {
			h.refused = time.Time{}
			e.refused.Add(-1)
			e.gen.Add(1)
		}
		if !h.until.IsZero() && !now.Before(h.until) {
			// A success after the ejection ended: off probation, back in.
			h.until, h.probation, h.back = time.Time{}, false, now
			e.ejected.Add(-1)
		}
		// Forget a node once it has been well for as long as the longest
		// ejection: its next ejection starts from BaseTime again.
		if h.until.IsZero() && h.refused.IsZero() && (h.ejections == 0 || now.Sub(h.back) >= e.s.MaxTime) {
			delete(e.health, key) // nothing left to remember
			e.tracked.Add(-1)
		}
		return
	}
	h.last = now
	if now.Before(h.until) {
		return // still ejected: a straggler's fault adds nothing
	}
	h.instance = n.Metadata[registry.MetaInstance]
	if h.faults == 0 {
		h.caller, h.many = caller, false
	} else if caller != h.caller {
		h.many = true
	}
	h.faults++
	elsewhere := e.noteFault(n, key, caller, now)
	if (h.probation || h.faults >= e.s.ConsecutiveFaults) && !(others && !h.many && elsewhere) {
		if h.until.IsZero() {
			e.ejected.Add(1)
		}
		h.ejections++
		h.until = now.Add(min(time.Duration(h.ejections)*e.s.BaseTime, e.s.MaxTime))
		h.faults, h.probation = 0, true
		e.gen.Add(1)
		if e.s.OnEject != nil {
			e.s.OnEject(n)
		}
	}
}

// Available returns the nodes of service that may be picked now: nodes
// without the ejected ones, within the MaxEjectedPercent cap, and all of
// them when every one is ejected. It returns nodes itself when none is
// ejected, and the same slice for as long as the answer is unchanged.
func (e *Ejector) Available(service string, nodes []*registry.Node) []*registry.Node {
	if e.ejected.Load() == 0 && e.refused.Load() == 0 || len(nodes) == 0 {
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
	var keep, dead []*registry.Node
	var outs []out
	var expires time.Time
	soonest := func(t time.Time) {
		if expires.IsZero() || t.Before(expires) {
			expires = t
		}
	}
	e.mu.Lock()
	for _, n := range nodes {
		h := e.health[n.Key()]
		switch {
		case h != nil && !h.refused.IsZero() && now.Before(h.refused.Add(e.s.RefusedFor)):
			dead = append(dead, n)
			soonest(h.refused.Add(e.s.RefusedFor))
		case h != nil && now.Before(h.until):
			outs = append(outs, out{n, h.until})
			soonest(h.until)
		default:
			keep = append(keep, n)
		}
	}
	e.mu.Unlock()
	view := &ejectView{src: nodes, gen: gen, expires: expires}
	if len(outs) == 0 && len(dead) == 0 {
		view.nodes = nodes
		return view
	}
	// Cap the share kept out, nodes known dead counted first; of the
	// ejected, the ones due back soonest return first. When every node is
	// ejected this is the panic mode: the cap picks who serves.
	sort.Slice(outs, func(i, j int) bool { return outs[i].until.Before(outs[j].until) })
	maxOut := max(len(nodes)*e.s.MaxEjectedPercent/100-len(dead), 0)
	for len(outs) > maxOut {
		keep = append(keep, outs[0].n)
		outs = outs[1:]
	}
	switch {
	case len(keep) == 0:
		// Every node is known dead: try them all rather than none.
		view.nodes = nodes
	case len(keep) == len(nodes):
		view.nodes = nodes
	default:
		view.nodes = keep
	}
	return view
}

// Refused records that a connection to n was refused (or could not be made):
// n is known dead, and kept out of selection for RefusedFor while another
// node is available, then probed by one attempt. A refusal is not counted as
// a fault towards ejection: the node is not serving badly, it is not serving,
// and it is back as soon as a probe finds it answering.
func (e *Ejector) Refused(n *registry.Node) {
	now := e.s.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	key := n.Key()
	h := e.health[key]
	if h == nil {
		h = e.addLocked(key, now)
	}
	h.last = now
	if h.refused.IsZero() {
		e.refused.Add(1)
	}
	h.refused = now
	e.gen.Add(1)
}

// Arrived tells the Ejector that n has (re)appeared in its service's
// discovery after an absence: a new instance, as a restarted node that
// registers again is. It gets a probe at once, not the rest of an old
// ejection: it is available, on probation (its first fault ejects it again).
//
// A node that comes back with the start mark (registry.MetaInstance) that
// it had at its last fault is no new instance but the one that failed,
// whose health check flapped: it keeps the rest of its ejection, which its
// returns would otherwise cut short, one more request to fail at each.
// Without a mark a restart cannot be told from a flap, and gets the probe.
func (e *Ejector) Arrived(n *registry.Node) {
	if e.tracked.Load() == 0 {
		return
	}
	now := e.s.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.health[n.Key()]
	if h == nil {
		return
	}
	if !h.refused.IsZero() {
		h.refused = time.Time{}
		e.refused.Add(-1)
	}
	mark := n.Metadata[registry.MetaInstance]
	if now.Before(h.until) && (mark == "" || mark != h.instance) {
		h.until = now // ended: on probation until its first success
		h.faults = 0
	}
	e.gen.Add(1)
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
