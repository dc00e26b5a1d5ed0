package selector

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/sluicehq/sluice/registry"
)

// Weighted returns a Strategy that picks each node with a probability
// proportional to weight(node). weight is called once per node per snapshot,
// never on the pick path; each pick is a binary search of a cumulative table
// built then, in O(log n) with no allocation.
//
// A weight that is not a positive finite number counts as 0: such a node
// gets no traffic while a node of positive weight is left untried. When no
// such node is left (every weight is 0, say, to drain them all), the nodes
// are picked as if their weights were equal: a snapshot is never refused
// for its weights.
func Weighted(weight func(*registry.Node) float64, opts ...Option) Strategy {
	if weight == nil {
		panic("selector: Weighted needs a weight function")
	}
	o := buildOptions(opts)
	return func(nodes []*registry.Node) Picker {
		if len(nodes) == 0 {
			return noNodes{}
		}
		p := &weighted{nodes: nodes, cum: make([]float64, len(nodes)), src: o.src}
		var total, heaviest float64
		for i, n := range nodes {
			w := weight(n)
			if !(w > 0 && !math.IsInf(w, 1)) { // true for NaN too
				w = 0
			}
			p.cum[i] = w
			total += w
			heaviest = max(heaviest, w)
		}
		// Each weight is finite, their sum may not be (two of 1e308, read
		// from metadata anyone who registers sets): then every draw fell
		// past the table and the last node took every request. Weights
		// relative to the heaviest keep their proportions and cannot
		// overflow.
		scale := 1.0
		if math.IsInf(total, 1) {
			scale = 1 / heaviest
		}
		total = 0
		for i, w := range p.cum {
			if w *= scale; w > 0 {
				total += w
				p.last = i
			}
			p.cum[i] = total
		}
		p.total = total
		return p
	}
}

// MetadataWeight returns a weight function for Weighted that reads a node's
// weight from Metadata[key] as a decimal number ("weight" by convention).
// A node without the key, or whose value does not parse as a finite number
// of at least zero, weighs def.
func MetadataWeight(key string, def float64) func(*registry.Node) float64 {
	return func(n *registry.Node) float64 {
		s, ok := n.Metadata[key]
		if !ok {
			return def
		}
		w, err := strconv.ParseFloat(s, 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return def
		}
		return w
	}
}

type weighted struct {
	nodes []*registry.Node
	cum   []float64 // cum[i]: the weights of nodes[0..i]
	total float64
	last  int // the last node of positive weight
	src   rand.Source
}

// rejections bounds the draws that land on tried nodes before Pick falls
// back to a scan of the untried ones.
const rejections = 4

func (p *weighted) Pick(info PickInfo) (*registry.Node, error) {
	if p.total == 0 {
		return uniform(p.nodes, p.src, info), nil
	}
	first := p.nodes[p.search(float(p.src)*p.total)]
	if len(info.Tried) == 0 || !contains(info.Tried, first) {
		return first, nil
	}
	// Drawing again until the node is untried samples exactly the weights
	// of the untried nodes; the scan below does too, for the rare call
	// whose tried nodes carry most of the weight.
	for range rejections - 1 {
		if n := p.nodes[p.search(float(p.src)*p.total)]; !contains(info.Tried, n) {
			return n, nil
		}
	}
	var left float64
	for i, n := range p.nodes {
		if w := p.weight(i); w > 0 && !contains(info.Tried, n) {
			left += w
		}
	}
	if left == 0 {
		// Only nodes of weight 0 are untried, if any: take one of them
		// rather than a node that failed this call.
		if i := firstUntried(p.nodes, intN(p.src, len(p.nodes)), info.Tried); i >= 0 {
			return p.nodes[i], nil
		}
		return first, nil
	}
	r := float(p.src) * left
	var pick *registry.Node
	for i, n := range p.nodes {
		if w := p.weight(i); w > 0 && !contains(info.Tried, n) {
			if pick = n; r < w {
				break
			}
			r -= w
		}
	}
	return pick, nil // the last one when rounding took r past the end
}

// search returns the first node whose cumulative weight exceeds r, in
// [0, total): a node of positive weight.
func (p *weighted) search(r float64) int {
	lo, hi := 0, len(p.cum)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.cum[mid] <= r {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo >= len(p.cum) {
		return p.last // r rounded up to total
	}
	return lo
}

func (p *weighted) weight(i int) float64 {
	if i == 0 {
		return p.cum[0]
	}
	return p.cum[i] - p.cum[i-1]
}

// uniform picks a node at random, an untried one when there is one.
func uniform(nodes []*registry.Node, src rand.Source, info PickInfo) *registry.Node {
	start := intN(src, len(nodes))
	if len(info.Tried) > 0 {
		if i := firstUntried(nodes, start, info.Tried); i >= 0 {
			return nodes[i]
		}
	}
	return nodes[start]
}

var _ Picker = (*weighted)(nil)
