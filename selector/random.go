package selector

import (
	"math/rand/v2"

	"github.com/sluicehq/sluice/registry"
)

// Random is a Strategy that picks a node uniformly at random.
func Random(nodes []*registry.Node) Picker {
	if len(nodes) == 0 {
		return noNodes{}
	}
	return random(nodes)
}

type random []*registry.Node

func (r random) Pick(tried []*registry.Node) (*registry.Node, error) {
	n := len(r)
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		node := r[(start+i)%n]
		if len(tried) == 0 || !contains(tried, node) {
			return node, nil
		}
	}
	return r[start], nil
}
