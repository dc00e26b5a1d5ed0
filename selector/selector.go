package selector

import (
	"errors"

	"github.com/sluicehq/sluice/registry"
)

// ErrNoNodes reports that a service has no node to send to. Every "no node"
// error of this package wraps it.
var ErrNoNodes = errors.New("selector: no nodes available")

// PickInfo is what a Picker is told about one attempt of a call.
type PickInfo struct {
	// Tried lists the nodes this call has already tried, in any snapshot.
	// A Picker returns one outside Tried when it can, and one of Tried
	// (rather than none) when every node has been tried.
	Tried []*registry.Node
	// Version, when not empty, pins the call to nodes of that version:
	// an exact version ("2.1.0") or a prefix ("2.1", "2"), matched as
	// VersionIs does. Only a Picker built by Pinnable honours it, which the
	// upstream Client always applies outermost; the other strategies of
	// this package ignore it.
	Version string
}

// Picker picks one node of an immutable snapshot. Pick must not block and is
// safe for concurrent use.
type Picker interface {
	Pick(info PickInfo) (*registry.Node, error)
}

// Strategy builds a Picker over nodes, which it must not modify. It is called
// once per snapshot, not per request: any precomputation belongs here.
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

// untried reports whether n may be picked without going back to a node the
// call has tried.
func untried(info PickInfo, n *registry.Node) bool {
	return len(info.Tried) == 0 || !contains(info.Tried, n)
}

// firstUntried returns the index of the first node at or after start, in
// ring order, that is not in tried, or -1 when every node is.
func firstUntried(nodes []*registry.Node, start int, tried []*registry.Node) int {
	n := len(nodes)
	for i := 0; i < n; i++ {
		k := start + i
		if k >= n {
			k -= n
		}
		if !contains(tried, nodes[k]) {
			return k
		}
	}
	return -1
}

// noNodes is the Picker of an empty snapshot.
type noNodes struct{ err error }

func (p noNodes) Pick(PickInfo) (*registry.Node, error) {
	if p.err != nil {
		return nil, p.err
	}
	return nil, ErrNoNodes
}
