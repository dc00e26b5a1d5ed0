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

var _ Strategy = Random

type random []*registry.Node

func (r random) Pick(info PickInfo) (*registry.Node, error) {
	start := rand.IntN(len(r))
	if len(info.Tried) == 0 {
		return r[start], nil
	}
	if i := firstUntried(r, start, info.Tried); i >= 0 {
		return r[i], nil
	}
	return r[start], nil
}
