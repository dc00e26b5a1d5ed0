package upstream

import (
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/rmap"
	"github.com/sluicehq/sluice/internal/schedlag"
	"github.com/sluicehq/sluice/registry"
)

// Defaults of LimitSettings.
const (
	// DefaultLimitMin is the least concurrency limit of a node, as in
	// Netflix's Gradient2. It is high enough that the latency spread of a
	// service whose answers vary by design (a 3-hop chain whose lower hops
	// retry with back-off takes 1 ms or 250 ms) never holds a node to fewer
	// requests than it has in flight; the queue check, not the limit,
	// sheds what a small node cannot serve within the budget.
	DefaultLimitMin = 20
	// DefaultLimitMax is the greatest concurrency limit of a node, and
	// where every node starts: a limit only falls under measured queueing,
	// so a burst on an idle gateway is never shed.
	DefaultLimitMax = 1000
	// DefaultLimitTolerance is how many times its baseline round trip a
	// node's answers may take before its limit falls.
	DefaultLimitTolerance = 2.0
	// LimitSlack is the least excess over a node's baseline round trip
	// that counts as queueing, so that the sub-millisecond noise of a
	// fast service never shrinks its limit.
	LimitSlack = 5 * time.Millisecond
	// LimitRetryAfter is the Retry-After of a call refused because every
	// node was at its limit.
	LimitRetryAfter = time.Second
)

// Internals of the limit.
const (
	// minRTTSamples is how many answers a node must have given before its
	// minimum round trip is trusted to refuse calls whose budget is below
	// it.
	minRTTSamples = 20
	// queueSamples is how many answers a node must have given before its
	// queue may refuse calls.
	queueSamples = 4
	// queueShare is the share of the budget left that a busy node's queue
	// may be expected to take: the rest covers the spread of the queue's
	// pace, the answer's way back, and a stall of the machine meanwhile.
	// At four fifths, the chaos suite's overload (1 s budgets) admitted
	// requests that then took 0.7 to 0.8 s, and a stall of a few hundred
	// milliseconds under CI's load let 20 of them run out of budget after
	// waiting it all; at half, they take 0.4 to 0.5 s, with the same
	// goodput (the queue it allows still keeps every node busy).
	queueShare = 0.5
	// minRTTWindow is how far back the minimum round trip looks: it is the
	// least of the current and the previous half window, so that a node
	// that became slower for good is re-learnt within this long.
	minRTTWindow = 30 * time.Second
	// limitWindow is how long the gradients of a node's answers are
	// gathered before the limit moves by their mean (Envoy's adaptive
	// concurrency filter updates its limit every 100 ms too).
	limitWindow = 100 * time.Millisecond
	// limitBackOff multiplies the limit after an attempt timed out or the
	// node answered that it is overloaded.
	limitBackOff = 0.9
	// baselineWeight is how much of a window's mean round trip goes into
	// a node's baseline: about 50 windows (five seconds at a busy node) to
	// follow a change, against the 6 in which answers twice as late take a
	// limit from its maximum to its floor.
	baselineWeight = 0.02
	// baselineLateWeight is baselineWeight for a window whose answers
	// were late: a queue that starts must not be learnt as the norm.
	baselineLateWeight = 0.002
	// onTime is the least mean gradient of a window whose answers count
	// as on time for the baseline: a few late answers among many (a
	// heavy tail) leave it on time.
	onTime = 0.95
)

// LimitSettings configure the adaptive concurrency limit of each node. The
// zero value is usable: see the field comments for the defaults.
type LimitSettings struct {
	// Min is the least limit. Zero means DefaultLimitMin.
	Min int
	// Max is the greatest limit, and the starting one. Zero means
	// DefaultLimitMax.
	Max int
	// Tolerance is how many times its baseline round trip a node may take
	// before its limit falls (at least 1). Zero means
	// DefaultLimitTolerance.
	Tolerance float64
	// MaxConnsPerNode is the most calls a node carries at once: its
	// transport's connections (TransportOptions.MaxConnsPerNode). A
	// caller's share (limit_share.go) is judged against it where it is
	// below a node's limit, as the calls past it wait for a connection.
	// Zero means DefaultMaxConnsPerNode; a negative value, no bound but
	// the limits.
	MaxConnsPerNode int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Lag returns the caller's own recent scheduling lag, which is taken
	// out of every round trip before it is judged (see internal/schedlag). Nil
	// means the process's, sampled from the Go runtime every 100 ms.
	Lag func() time.Duration
}

// Limits holds an adaptive concurrency limit per node, the "dynamic SLA" of
// a node: how many requests it may have in flight before its answers queue.
// It follows the gradient limits of Netflix's concurrency-limits and
// Envoy's adaptive concurrency filter: each answer's round trip (from
// sending to its header, less the caller's own scheduling lag: see
// LimitSettings.Lag) is compared with the node's baseline round trip (its
// usual one over the mix of requests it serves, as Gradient2's long-term
// average: nodeLimit.baseline), and the limit shrinks as the ratio grows,
// once every 100 ms by the mean gradient of the answers of those 100 ms:
//
//	gradient = clamp(max(Tolerance × baseline, baseline + LimitSlack) / rtt, 0.5, 1)
//	limit    = limit × mean gradient + √limit
//
// clamped to [Min, Max]. So a hiccup that makes every request in flight
// late at once moves the limit by the share of the window's answers it
// made late, and queueing that lasts halves it every 100 ms. An attempt
// cut by its per-try timeout, or an answer 503 with Retry-After (the node
// says it is overloaded), multiplies the limit by 0.9, once per 100 ms
// however many come in them. Limits start at Max
// and fall only under measured queueing.
//
// The Client reads the limits when it picks a node (see Client.Do): a node
// with as many requests waiting for their answer's head as its limit is
// full and skipped (an answer whose body is still coming, a server-sent
// event stream, is no longer waiting: admit); so is a node whose answers
// show queueing (their smoothed round trip above the tolerance of its
// baseline) when its minimum round trip plus one gap between its answers
// for each request waiting on it (Little's law) exceeds half the budget
// the call has left: its queue says the call would not end in time, or
// only by a margin a stall would eat. A call whose every node is full is
// refused at once with an *OverloadedError (503, Retry-After). A node
// whose minimum round trip is known and exceeds the budget the call has
// left is skipped too; a call that no node can answer within its budget
// is refused with a *BudgetTooLowError (504).
//
// Limits are keyed by node identity, so they survive discovery refreshes and
// configuration reloads: main owns one and hands it to every Client. Safe
// for concurrent use; reading a limit takes no lock and allocates nothing.
type Limits struct {
	s LimitSettings
	// nodes holds the limits by service, then node: a snapshot's new
	// nodes copy their service's table alone (rmap.Grouped).
	nodes rmap.Grouped[string, limitKey, *nodeLimit]
	mu    sync.Mutex // serialises writers of nodes
	// sweepAt is the size of the tables together past which the next
	// insertion forgets nodes that have not been used for a while.
	sweepAt int

	shed, tooLow atomic.Int64
	shares       rmap.Map[string, *callerShare] // by service: limit_share.go
}

// limitKey is a node's identity within its service's table, as a map key
// (hashing it allocates nothing).
type limitKey struct{ id, address string }

func keyOf(n *registry.Node) limitKey { return limitKey{n.ID, n.Address} }

// limitForget is how long a node must go unused before a sweep forgets its
// limit (forgetting it only means it starts again at Max).
const limitForget = 10 * time.Minute

// NewLimits returns limits with settings s.
func NewLimits(s LimitSettings) *Limits {
	if s.Min <= 0 {
		s.Min = DefaultLimitMin
	}
	if s.Max <= 0 {
		s.Max = DefaultLimitMax
	}
	s.Max = max(s.Max, s.Min)
	if s.Tolerance <= 0 {
		s.Tolerance = DefaultLimitTolerance
	}
	s.Tolerance = max(s.Tolerance, 1)
	if s.MaxConnsPerNode == 0 {
		s.MaxConnsPerNode = DefaultMaxConnsPerNode
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Lag == nil {
		s.Lag = schedlag.Own()
	}
	return &Limits{s: s, sweepAt: 1024}
}

// WithLimits sets the per-node concurrency limits. By default the client has
// its own; main should own one and pass it to every Client, so that the
// limits outlive a reload. A nil value disables them.
func WithLimits(l *Limits) Option {
	return func(c *Client) { c.limits = l; c.noLimits = l == nil }
}

// Limits returns the client's concurrency limits, or nil.
func (c *Client) Limits() *Limits { return c.limits }

// get returns n's limit, or nil when n has none yet.
func (l *Limits) get(n *registry.Node) *nodeLimit {
	nl, _ := l.nodes.Load(n.Service, keyOf(n))
	return nl
}

// of returns n's limit, adding it at Max when unknown.
func (l *Limits) of(n *registry.Node) *nodeLimit {
	if nl := l.get(n); nl != nil {
		return nl
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addLocked(n.Service, keyOf(n))
}

// know adds at Max the limits of the nodes of a snapshot that have none,
// in one copy of the table. Added one by one, at each node's first call
// (of), every node cost a copy of the whole table: the first calls to a
// service of 20,000 nodes copied 200 million entries between them, 10 s of
// CPU under the lock every first call takes. The client calls it once per
// snapshot. The table it copies is the service's alone: one table of
// every node, copied at each service's first snapshot, made the first
// calls to 8,000 services of three nodes each copy 100 million entries
// (TestAuditFirstCallsToManyServicesCopyNoTables).
func (l *Limits) know(nodes []*registry.Node) {
	for len(nodes) > 0 { // a snapshot is one service's; any other run of one service is taken in turn
		j := 1
		for j < len(nodes) && nodes[j].Service == nodes[0].Service {
			j++
		}
		l.knowService(nodes[0].Service, nodes[:j])
		nodes = nodes[j:]
	}
}

// knowService is know for nodes, all of service.
func (l *Limits) knowService(service string, nodes []*registry.Node) {
	var missing []limitKey
	for _, n := range nodes {
		if _, ok := l.nodes.Load(service, keyOf(n)); !ok {
			missing = append(missing, keyOf(n))
		}
	}
	if len(missing) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(service, missing...)
}

// addLocked adds a limit at Max for each of keys of service that has none,
// in one copy of the service's table, and returns the limit of the first
// key. The next insertion past sweepAt forgets the nodes of every service
// unused for limitForget.
func (l *Limits) addLocked(service string, keys ...limitKey) *nodeLimit {
	old := l.nodes.Group(service)
	var first *nodeLimit
	fresh := keys[:0:0]
	for _, k := range keys {
		if nl := old[k]; nl != nil {
			if first == nil {
				first = nl
			}
			continue
		}
		fresh = append(fresh, k)
	}
	if len(fresh) == 0 {
		return first
	}
	now := l.s.Now()
	next := make(map[limitKey]*nodeLimit, len(old)+len(fresh))
	maps.Copy(next, old)
	for _, k := range fresh {
		if next[k] == nil {
			next[k] = newNodeLimit(&l.s, now)
		}
	}
	l.nodes.Store(service, next)
	if l.nodes.Len() > l.sweepAt {
		l.nodes.Filter(func(_ limitKey, nl *nodeLimit) bool {
			return now.Sub(time.Unix(0, nl.used.Load())) <= limitForget
		})
		l.sweepAt = max(2*l.nodes.Len(), 1024)
	}
	if first == nil {
		first = next[keys[0]]
	}
	return first
}

// verdict is what a node's limit says of one more request.
type verdict uint8

const (
	admitted verdict = iota
	full             // as many in flight as its limit
	tooSlow          // its minimum round trip exceeds the budget left
)

// admit tells whether n may take one more request, with left of the
// call's budget. Its limit and its queue check count the requests waiting
// for their answer's head (sending), which is what the limit learns from;
// an answer whose body is still coming (a server-sent event stream, a
// download to a slow client) is no queue ahead of a new request, and 150
// such streams open on a node had every other call refused
// (TestLongAnswersDoNotLookLikeAQueue in e2e/hostile). The queue check
// and the limit leave out aside of them (another caller's share:
// limit_share.go): a limit that fell under one caller's calls held for
// their budget refused every other caller's while they lasted. It takes
// no lock.
func (l *Limits) admit(n *registry.Node, aside float64, left time.Duration) verdict {
	v, _ := l.admitLimit(n, aside, left)
	return v
}

// admitLimit is admit, which also returns the limit it read, nil when n has
// none yet: the attempt hands it on (sending, teach), so that its node's
// limit is looked up once, not at every step (a lookup by a node's identity
// hashes three strings).
func (l *Limits) admitLimit(n *registry.Node, aside float64, left time.Duration) (verdict, *nodeLimit) {
	nl := l.get(n)
	if nl == nil {
		return admitted, nil // never sent a request: nothing waits on it, and its limit is Max
	}
	if left < 0 {
		// The call's budget is spent: no node's to refuse, and no sign of
		// the node's load. The budget check that follows fails it 504
		// budget-spent; judged here, the queue check took it for a full
		// node, answered 503 overloaded, counted it as shed, and marked
		// the node as refusing.
		return admitted, nl
	}
	if m := nl.minRTT.Load(); m > 0 && left < time.Duration(m) {
		return tooSlow, nl
	}
	waiting := int64(float64(nl.waiting.Load()) * (1 - aside))
	if float64(left)*queueShare < float64(nl.expected(waiting)) {
		return nl.full(), nl // its queue says the request would not end in time
	}
	if waiting >= nl.limit.Load() {
		return nl.full(), nl
	}
	return admitted, nl
}

// sending counts an attempt sent to n as waiting for its answer's head, for
// the queue check (admit); the attempt's end calls answered on what it
// returns, nil without limits. known is n's limit when the caller has it
// (admitLimit), else nil.
func (l *Limits) sending(n *registry.Node, known *nodeLimit) *nodeLimit {
	if l == nil {
		return nil
	}
	nl := l.ofKnown(n, known)
	if !nl.sent.Load() && !nl.sent.Swap(true) {
		// Its first attempt: the limit may have been added with its
		// snapshot (know), long before. As one added now, it tells silent
		// that the node has not been silent since before this attempt.
		nl.used.Store(l.s.Now().UnixNano())
	}
	nl.waiting.Add(1)
	return nl
}

// ofKnown returns known when not nil, else n's limit (of).
func (l *Limits) ofKnown(n *registry.Node, known *nodeLimit) *nodeLimit {
	if known != nil {
		return known
	}
	return l.of(n)
}

// answered ends what sending counted: the answer's head came, or the
// attempt ended without one.
func (nl *nodeLimit) answered() {
	if nl != nil {
		nl.waiting.Add(-1)
	}
}

// full notes that the node refused a request, and says so.
func (nl *nodeLimit) full() verdict {
	if !nl.refused.Load() {
		nl.refused.Store(true)
	}
	if !nl.refusedWin.Load() {
		nl.refusedWin.Store(true)
	}
	return full
}

// atLeast records an attempt on n that ended without an answer rtt after it
// was sent, when the call's budget ended or its caller left: its round trip
// would have been longer. It can only shrink the limit, never teach the
// minimum round trip.
func (l *Limits) atLeast(n *registry.Node, rtt time.Duration, now time.Time) {
	if nl := l.get(n); nl != nil {
		nl.atLeast(rtt, now)
	}
}

// Shed returns how many calls were refused because every node was at its
// limit; TooLow how many because no node could answer within their budget.
func (l *Limits) Shed() int64 { return l.shed.Load() }

// TooLow returns how many calls were refused because the budget they had
// left was below the minimum round trip of every node.
func (l *Limits) TooLow() int64 { return l.tooLow.Load() }

// NodeLimit is the state of one node's limit, for admin endpoints.
type NodeLimit struct {
	Service string `json:"service"`
	Node    string `json:"node"`
	Limit   int64  `json:"limit"`
	// MinRTT is the node's minimum round trip, once known.
	MinRTT time.Duration `json:"min_rtt_ns"`
	// Samples counts the answers seen.
	Samples int64 `json:"samples"`
}

// States returns the nodes whose limit is below Max, sorted by service and
// node.
func (l *Limits) States() []NodeLimit {
	var out []NodeLimit
	l.nodes.Range(func(service string, k limitKey, nl *nodeLimit) bool {
		lim := nl.limit.Load()
		if lim >= int64(l.s.Max) {
			return true
		}
		out = append(out, NodeLimit{Service: service, Node: k.address, Limit: lim,
			MinRTT: time.Duration(nl.minRTT.Load()), Samples: nl.samples.Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Node < out[j].Node
	})
	return out
}
