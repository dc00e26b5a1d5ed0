package selector

import (
	"fmt"

	"github.com/sluicehq/sluice/registry"
)

// errNoneKept is what a Filter over a snapshot with no kept node returns.
var errNoneKept = fmt.Errorf("selector: no node passes the filter: %w", ErrNoNodes)

// Filter returns a Strategy that picks with base among the nodes keep
// accepts, and fails with an error wrapping ErrNoNodes when it accepts
// none: a hard filter. keep is called once per node per snapshot, never on
// the pick path. Use Prefer where other nodes should serve when no node
// passes.
func Filter(keep func(*registry.Node) bool, base Strategy) Strategy {
	return func(nodes []*registry.Node) Picker {
		kept, _ := partition(nodes, keep)
		if len(kept) == 0 {
			return noNodes{errNoneKept}
		}
		return base(kept)
	}
}

// Prefer returns a Strategy that picks with base among the nodes prefer
// accepts while one of them is untried, and among the others otherwise:
// when there is no preferred node, or every one has failed this call. It
// never fails for want of a preferred node. With InDatacenter it keeps
// traffic local and fails over to other datacenters.
func Prefer(prefer func(*registry.Node) bool, base Strategy) Strategy {
	return func(nodes []*registry.Node) Picker {
		preferred, others := partition(nodes, prefer)
		if len(preferred) == 0 || len(others) == 0 {
			return base(nodes)
		}
		return &preferPicker{preferred: base(preferred), others: base(others)}
	}
}

type preferPicker struct {
	preferred, others Picker
}

func (p *preferPicker) Pick(info PickInfo) (*registry.Node, error) {
	n, err := p.preferred.Pick(info)
	if err == nil && untried(info, n) {
		return n, nil
	}
	if other, err := p.others.Pick(info); err == nil {
		if n == nil || untried(info, other) {
			return other, nil
		}
	}
	return n, err
}

// partition splits nodes by f. Either half is nodes itself when it holds
// every node, so that the snapshot keeps its identity.
func partition(nodes []*registry.Node, f func(*registry.Node) bool) (yes, no []*registry.Node) {
	for _, n := range nodes {
		if f(n) {
			yes = append(yes, n)
		} else {
			no = append(no, n)
		}
	}
	switch {
	case len(yes) == len(nodes):
		yes = nodes
	case len(no) == len(nodes):
		no = nodes
	}
	return yes, no
}

// MetadataEquals returns a predicate for Filter and Prefer that accepts the
// nodes whose Metadata[key] is value.
func MetadataEquals(key, value string) func(*registry.Node) bool {
	return func(n *registry.Node) bool {
		v, ok := n.Metadata[key]
		return ok && v == value
	}
}

// InDatacenter returns a predicate for Filter and Prefer that accepts the
// nodes of datacenter dc.
func InDatacenter(dc string) func(*registry.Node) bool {
	return func(n *registry.Node) bool { return n.Datacenter == dc }
}

// VersionIs returns a predicate for Filter and Prefer that accepts the
// nodes of version v. If v parses as a semantic version or a prefix of one
// (v?MAJOR[.MINOR[.PATCH[-PRE]]], build metadata ignored), it accepts the
// nodes whose Version is a semantic version with the same parts: "2"
// accepts 2.x.y, "2.1" accepts 2.1.x, pre-releases included, and "2.1.0"
// accepts 2.1.0 of any build but not 2.1.0-rc.1. Otherwise ("blue",
// "2.1.x") it accepts the nodes whose Version is exactly v. Ranges such as
// ">=2.0.0" are not supported: as exact texts they match nothing.
func VersionIs(v string) func(*registry.Node) bool {
	p := parsePattern(v)
	return func(n *registry.Node) bool { return p.match(n.Version) }
}

var _ Picker = (*preferPicker)(nil)
