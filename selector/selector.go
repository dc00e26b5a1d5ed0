package selector

import (
	"errors"

	"github.com/sluicehq/sluice/registry"
)

// ErrNoNodes reports that a service has no node to send to.
var ErrNoNodes = errors.New("selector: no nodes available")

// Picker picks one node of an immutable snapshot. Pick must not block and is
// safe for concurrent use. tried lists the nodes this call has already tried:
// Pick returns one outside tried when it can, and one of tried (rather than
// none) when every node has been tried.
type Picker interface {
	Pick(tried []*registry.Node) (*registry.Node, error)
}

// Strategy builds a Picker over nodes, which it must not modify. It is called
// once per snapshot, not per request.
type Strategy func(nodes []*registry.Node) Picker

// contains reports whether n is in tried, by identity.
func contains(tried []*registry.Node, n *registry.Node) bool {
	for _, t := range tried {
		if t.Same(n) {
			return true
		}
	}
	return false
}

// noNodes is the Picker of an empty snapshot.
type noNodes struct{}

func (noNodes) Pick([]*registry.Node) (*registry.Node, error) { return nil, ErrNoNodes }
