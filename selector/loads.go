package selector

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/rmap"
	"github.com/sluicehq/sluice/registry"
)

// Loads counts the requests in flight on each node, for LeastLoaded. Its
// counts are keyed by node identity (service, ID and address, as Node.Key
// and Node.Same), so they survive discovery refreshes, picker rebuilds and
// configuration reloads: main owns one and hands it to every Client it
// builds. The zero value is an empty Loads ready to use; a Loads must not be
// copied after first use. Safe for concurrent use.
//
// Reading a count, and Start on a known node, take no lock and allocate
// nothing; a LeastLoaded picker reads its nodes' counts without even a map
// lookup. A node becomes known when LeastLoaded builds a picker over a
// snapshot that holds it (one copy of its service's table, under a lock,
// per snapshot), or at its first Start. Nodes that have had nothing in
// flight since the tables together last doubled are forgotten then, so the
// tables do not grow with every node that ever existed; forgetting them
// loses nothing, since their count was zero.
type Loads struct {
	now func() time.Time // nil means time.Now
	// nodes holds the loads by service, then node: a snapshot's new nodes
	// copy their service's table alone (rmap.Grouped).
	nodes    rmap.Grouped[string, nodeKey, *load]
	mu       sync.Mutex // serialises writers of nodes
	sweepAt  int        // size of the tables together past which the next insertion sweeps
	minSweep int        // the smallest table swept; 0 means minSweep (tests lower it)
}

// minSweep is the smallest table that is swept.
const minSweep = 1024

// retired marks a load swept out of the table: Start on it fails and looks
// the node up again. It is far below any count that unbalanced done calls
// could reach.
const retired = math.MinInt64 / 2

// nodeID is a node's identity as a map key: hashing it allocates nothing,
// unlike building Node.Key.
type nodeID struct{ service, id, address string }

func idOf(n *registry.Node) nodeID { return nodeID{n.Service, n.ID, n.Address} }

// nodeKey is a node's identity within its service's table.
type nodeKey struct{ id, address string }

func (id nodeID) key() nodeKey { return nodeKey{id.id, id.address} }

type load struct {
	n    atomic.Int64 // requests in flight; retired once swept
	used atomic.Bool  // added or started since the last sweep
	// penalty is the node's failure penalty (a float64's bits) as it was
	// at penaltyAt (Unix nanoseconds): see Penalize.
	penalty   atomic.Uint64
	penaltyAt atomic.Int64
	// release is l.done as a func value, made once so that Start returns
	// it without allocating.
	release func()
}

// NewLoads returns an empty Loads. WithClock is the only Option it reads.
func NewLoads(opts ...Option) *Loads {
	o := buildOptions(opts)
	return &Loads{now: o.now}
}

// Failure penalties: each failure adds one to a node's penalty, which halves
// every PenaltyHalfLife and counts as none below PenaltyFloor (after seven
// half-lives for one failure); LeastLoaded weighs a node's requests in
// flight by 1 + PenaltyWeight × penalty.
const (
	PenaltyHalfLife = 500 * time.Millisecond
	PenaltyWeight   = 100
	PenaltyFloor    = 1.0 / 128
)

// Penalize records a failure of an attempt on n (a dependency fault): the
// node looks more loaded to LeastLoaded, by a penalty that decays by itself.
// Without it, a node that fails fast has fewer requests in flight than the
// others and the power of two choices would send it more: the
// "least-loaded black hole". Finagle's and Linkerd's balancers guard against
// it with a latency EWMA; Sluice keeps the requests in flight as the load
// (they already grow with a node's latency) and adds the decaying penalty.
func (l *Loads) Penalize(n *registry.Node) {
	c := l.lookup(idOf(n))
	if c == nil {
		c = l.insert(idOf(n))
	}
	now := l.clock().UnixNano()
	for {
		bits, at := c.penalty.Load(), c.penaltyAt.Load()
		p := decay(math.Float64frombits(bits), now-at)
		if c.penalty.CompareAndSwap(bits, math.Float64bits(p+1)) {
			c.penaltyAt.Store(now)
			return
		}
	}
}

// Forgive clears n's failure penalty: a new instance of the node, as a
// restarted node registering again is, starts afresh.
func (l *Loads) Forgive(n *registry.Node) {
	if c := l.lookup(idOf(n)); c != nil {
		c.penalty.Store(0)
	}
}

// Penalty returns n's failure penalty now.
func (l *Loads) Penalty(n *registry.Node) float64 {
	c := l.lookup(idOf(n))
	if c == nil {
		return 0
	}
	return l.penaltyOf(c)
}

func (l *Loads) penaltyOf(c *load) float64 {
	bits := c.penalty.Load()
	if bits == 0 {
		return 0
	}
	p := decay(math.Float64frombits(bits), l.clock().UnixNano()-c.penaltyAt.Load())
	if p < PenaltyFloor {
		return 0
	}
	return p
}

func (l *Loads) clock() time.Time {
	if l.now == nil {
		return time.Now()
	}
	return l.now()
}

// decay returns penalty p after elapsed nanoseconds.
func decay(p float64, elapsed int64) float64 {
	if p == 0 || elapsed <= 0 {
		return p
	}
	return p * math.Exp2(-float64(elapsed)/float64(PenaltyHalfLife))
}

// Start counts one request to n in flight until done is called. done must be
// called exactly once, when the request is over: when its answer has been
// read or abandoned, or when it failed. Start does not wait, except on the
// table's lock the first time it sees a node.
func (l *Loads) Start(n *registry.Node) (done func()) {
	id := idOf(n)
	for {
		if c := l.lookup(id); c != nil && c.acquire() {
			return c.release
		}
		// Unknown, or being swept out: add it, or wait for the sweep.
		if c := l.insert(id); c.acquire() {
			return c.release
		}
	}
}

// InFlight returns the requests in flight on n. It takes no lock.
func (l *Loads) InFlight(n *registry.Node) int64 {
	c := l.lookup(idOf(n))
	if c == nil {
		return 0
	}
	return max(c.n.Load(), 0)
}

func (l *Loads) lookup(id nodeID) *load {
	c, _ := l.nodes.Load(id.service, id.key())
	return c
}

// Know adds the nodes of a snapshot that the table lacks, in one copy of
// it, so that their first Start takes no lock and copies nothing. A
// strategy other than LeastLoaded (which does this as it builds its
// picker) otherwise had each node added at its first Start, each a copy
// of the whole table: the first calls to a service of 20,000 nodes
// copied 200 million entries between them. The upstream Client calls it
// once per snapshot.
func (l *Loads) Know(nodes []*registry.Node) {
	var missing []nodeID
	for _, n := range nodes {
		if id := idOf(n); l.lookup(id) == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		l.insert(missing...)
	}
}

// counters returns the loads of nodes, in order, adding those the table
// lacks in one copy, so that their first Start takes no lock.
func (l *Loads) counters(nodes []*registry.Node) []atomic.Pointer[load] {
	out := make([]atomic.Pointer[load], len(nodes))
	var missing []nodeID
	for i, n := range nodes {
		id := idOf(n)
		c := l.lookup(id)
		if c == nil {
			missing = append(missing, id)
		}
		out[i].Store(c)
	}
	if len(missing) > 0 {
		l.insert(missing...)
		for i, n := range nodes {
			if out[i].Load() == nil {
				out[i].Store(l.lookup(idOf(n)))
			}
		}
	}
	return out
}

// current returns the requests in flight on n, whose load was c when last
// looked up. A load is only ever replaced once swept out of the table; then
// current looks n up again and stores what it finds in *c, so that a picker
// that outlives a sweep still reads the node's true count.
func (l *Loads) current(p *atomic.Pointer[load], n *registry.Node) int64 {
	c := p.Load()
	if c != nil {
		if v := c.n.Load(); v != retired {
			return max(v, 0)
		}
	}
	if c = l.lookup(idOf(n)); c == nil {
		return 0 // idle since it was swept out
	}
	p.Store(c)
	return max(c.n.Load(), 0)
}

// insert adds ids to the table, copying the table of their service (of
// each run of ids of one service), and returns the load of the first. It
// sweeps idle nodes out of every service's table when the tables together
// have doubled since the last sweep. One table of every node, copied at
// each service's first snapshot, made the first calls to 8,000 services of
// three nodes each copy 100 million entries
// (TestAuditFirstCallsToManyServicesCopyNoTables in package upstream).
func (l *Loads) insert(ids ...nodeID) *load {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(ids) == 1 {
		if c, _ := l.nodes.Load(ids[0].service, ids[0].key()); c != nil && c.n.Load() != retired {
			return c // another Start added it meanwhile
		}
	}
	floor := l.minSweep
	if floor == 0 {
		floor = minSweep
	}
	sweep := l.nodes.Len()+len(ids) > max(l.sweepAt, floor)
	if sweep {
		l.nodes.Filter(func(_ nodeKey, c *load) bool { return c.n.Load() != retired && !c.retire() })
	}
	var first *load
	for rest := ids; len(rest) > 0; {
		j := 1
		for j < len(rest) && rest[j].service == rest[0].service {
			j++
		}
		if c := l.insertService(rest[0].service, rest[:j]); first == nil {
			first = c
		}
		rest = rest[j:]
	}
	if sweep {
		l.sweepAt = 2 * l.nodes.Len()
	}
	return first
}

// insertService adds ids, all of service, to its table in one copy, and
// returns the load of the first; l.mu is held.
func (l *Loads) insertService(service string, ids []nodeID) *load {
	old := l.nodes.Group(service)
	next := make(map[nodeKey]*load, len(old)+len(ids))
	for k, c := range old {
		if c.n.Load() == retired {
			continue
		}
		next[k] = c
	}
	var first *load
	for _, id := range ids {
		c := next[id.key()]
		if c == nil { // else another Start inserted it meanwhile
			c = &load{}
			c.release = c.done
			c.used.Store(true) // new: kept by the next sweep
			next[id.key()] = c
		}
		if first == nil {
			first = c
		}
	}
	l.nodes.Store(service, next)
	return first
}

// acquire counts one more request, unless the load has been swept out.
func (c *load) acquire() bool {
	for {
		v := c.n.Load()
		if v == retired {
			return false
		}
		if c.n.CompareAndSwap(v, v+1) {
			if !c.used.Load() {
				c.used.Store(true)
			}
			return true
		}
	}
}

func (c *load) done() { c.n.Add(-1) }

// retire takes an idle load out of service, and reports whether it did: a
// load added or started since the last sweep, or with requests in flight,
// stays.
func (c *load) retire() bool {
	if c.used.Swap(false) {
		return false
	}
	return c.n.CompareAndSwap(0, retired)
}
