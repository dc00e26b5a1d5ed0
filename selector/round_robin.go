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

var _ Strategy = RoundRobin

type roundRobin struct {
	nodes []*registry.Node
	// next counts turns. It is 64 bits wide so that it never wraps: a 32-bit
	// counter wraps after 2^32 picks and, unless len(nodes) divides 2^32,
	// then gives one node two turns in a row.
	next atomic.Uint64
}

func (rr *roundRobin) Pick(info PickInfo) (*registry.Node, error) {
	start := int(rr.next.Add(1) % uint64(len(rr.nodes)))
	if len(info.Tried) == 0 {
		return rr.nodes[start], nil
	}
	if i := firstUntried(rr.nodes, start, info.Tried); i >= 0 {
		return rr.nodes[i], nil
	}
	return rr.nodes[start], nil
}

var _ Picker = (*roundRobin)(nil)
