package selector

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/sluicehq/sluice/registry"
)

// LeastLoaded returns a Strategy that picks by the power of two choices on
// least outstanding requests (Finagle's and Envoy's default): draw two
// distinct nodes at random among those the call has not tried, and take the
// one with fewer requests in flight in loads, each count weighed by the
// node's recent failures (Loads.Penalize), so that a node that fails fast
// does not draw traffic. Ties go to the first draw, itself uniform, so they
// are broken at random.
//
// The counts are only true if every request sent to a picked node is counted
// with loads.Start: the upstream Client does so. loads must not be nil.
func LeastLoaded(loads *Loads, opts ...Option) Strategy {
	if loads == nil {
		panic("selector: LeastLoaded needs a *Loads")
	}
	o := buildOptions(opts)
	return func(nodes []*registry.Node) Picker {
		if len(nodes) == 0 {
			return noNodes{}
		}
		return &leastLoaded{nodes: nodes, counts: loads.counters(nodes), loads: loads, src: o.src}
	}
}

type leastLoaded struct {
	nodes  []*registry.Node
	counts []atomic.Pointer[load] // the loads of nodes, in order
	loads  *Loads
	src    rand.Source
}

func (p *leastLoaded) Pick(info PickInfo) (*registry.Node, error) {
	n := len(p.nodes)
	if n == 1 {
		return p.nodes[0], nil
	}
	i := intN(p.src, n)
	j := i + 1 + intN(p.src, n-1) // uniform over the others
	if j >= n {
		j -= n
	}
	if len(info.Tried) > 0 {
		if i, j = p.untriedPair(i, j, info.Tried); j < 0 {
			return p.nodes[i], nil
		}
	}
	if p.cost(j) < p.cost(i) {
		return p.nodes[j], nil
	}
	return p.nodes[i], nil
}

// cost is a node's load: its requests in flight plus one, weighed by its
// failure penalty (Loads.Penalize). With no penalty it orders nodes as
// their requests in flight do.
func (p *leastLoaded) cost(k int) float64 {
	n := float64(p.loads.current(&p.counts[k], p.nodes[k]) + 1)
	if c := p.counts[k].Load(); c != nil {
		if pen := p.loads.penaltyOf(c); pen > 0 {
			n *= 1 + PenaltyWeight*pen
		}
	}
	return n
}

// untriedPair moves each draw on to the next node not tried, keeping them
// distinct. j is -1 when fewer than two nodes are untried: then i is the
// only untried node, or the first draw when every node has been tried.
func (p *leastLoaded) untriedPair(i, j int, tried []*registry.Node) (int, int) {
	a := firstUntried(p.nodes, i, tried)
	if a < 0 {
		return i, -1
	}
	n := len(p.nodes)
	for k := 0; k < n; k++ {
		b := j + k
		if b >= n {
			b -= n
		}
		if b != a && !contains(tried, p.nodes[b]) {
			return a, b
		}
	}
	return a, -1
}

var _ Picker = (*leastLoaded)(nil)
