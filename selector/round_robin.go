package selector

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/sluicehq/sluice/registry"
)

// RoundRobin is a Strategy that takes the nodes in turn across all requests,
// starting at a random node so that many processes do not move in step.
func RoundRobin(nodes []*registry.Node) Picker {
	if len(nodes) == 0 {
		return noNodes{}
	}
	rr := &roundRobin{nodes: nodes}
	rr.next.Store(uint64(rand.IntN(len(nodes))))
	return rr
}

type roundRobin struct {
	nodes []*registry.Node
	// next counts turns. It is 64 bits wide so that it never wraps: a 32-bit
	// counter wraps after 2^32 picks and, unless len(nodes) divides 2^32,
	// then gives one node two turns in a row.
	next atomic.Uint64
}

var _ Picker = (*roundRobin)(nil)

func (rr *roundRobin) Pick(tried []*registry.Node) (*registry.Node, error) {
	n := uint64(len(rr.nodes))
	start := rr.next.Add(1) % n
	for i := uint64(0); i < n; i++ {
		node := rr.nodes[(start+i)%n]
		if len(tried) == 0 || !contains(tried, node) {
			return node, nil
		}
	}
	return rr.nodes[start], nil
}
