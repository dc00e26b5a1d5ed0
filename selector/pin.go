package selector

import (
	"slices"
	"strconv"

	"github.com/sluicehq/sluice/registry"
)

// Pinnable returns a Strategy that honours PickInfo.Version: a pinned pick
// goes to a picker that base builds over the nodes of that version only
// (matched as VersionIs does), and an unpinned pick to base's picker over
// every node. A pin that no node matches fails with a *VersionError, which
// wraps ErrNoNodes.
//
// The pickers of every version and version prefix present are built with
// the snapshot, so a pinned pick is one map lookup and allocates nothing.
// Pinnable belongs outermost, since it consumes the pin: the pickers it
// delegates to see no Version. The upstream Client applies it to whatever
// strategy it is given.
func Pinnable(base Strategy) Strategy {
	return func(nodes []*registry.Node) Picker {
		if len(nodes) == 0 {
			return noNodes{}
		}
		p := &pinnable{all: base(nodes)}
		semantic := make(map[string][]*registry.Node)
		text := make(map[string][]*registry.Node)
		for _, n := range nodes {
			if full, minor, major, ok := versionKeys(n.Version); ok {
				semantic[full] = append(semantic[full], n)
				semantic[minor] = append(semantic[minor], n)
				semantic[major] = append(semantic[major], n)
			} else if n.Version != "" {
				text[n.Version] = append(text[n.Version], n)
			}
		}
		p.semantic = p.build(base, nodes, semantic)
		p.text = p.build(base, nodes, text)
		return p
	}
}

// VersionError reports a pinned version that no node of the snapshot has.
type VersionError struct {
	Version string
}

// Error implements the error interface.
func (e *VersionError) Error() string {
	return "selector: no nodes of pinned version " + strconv.Quote(e.Version)
}

// Unwrap returns ErrNoNodes.
func (e *VersionError) Unwrap() error { return ErrNoNodes }

type pinnable struct {
	all      Picker
	semantic map[string]Picker // by the canonical form of a semantic pattern
	text     map[string]Picker // by the exact text of other versions
}

// build makes a picker per group of nodes. Groups of the same nodes share
// one ("2.1.0", "2.1" and "2" when only 2.1.0 runs), and a group of every
// node shares p.all, so that, say, round robin keeps one rotation and a
// snapshot costs no more pickers than it has distinct groups.
//
// Groups already built are found by their size and first node, then
// compared: looked for one by one, a snapshot of 5,000 nodes that each run
// a version of their own (a build number) cost the request that saw it
// 175 ms, and one of 20,000, 1.9 s.
func (p *pinnable) build(base Strategy, nodes []*registry.Node, groups map[string][]*registry.Node) map[string]Picker {
	if len(groups) == 0 {
		return nil
	}
	type built struct {
		nodes  []*registry.Node
		picker Picker
	}
	type groupKey struct {
		n     int
		first *registry.Node
	}
	done := map[groupKey][]built{{len(nodes), nodes[0]}: {{nodes, p.all}}}
	out := make(map[string]Picker, len(groups))
next:
	for k, g := range groups {
		gk := groupKey{len(g), g[0]}
		for _, b := range done[gk] {
			if slices.Equal(b.nodes, g) { // in snapshot order, so equal sets are equal slices
				out[k] = b.picker
				continue next
			}
		}
		out[k] = base(g)
		done[gk] = append(done[gk], built{g, out[k]})
	}
	return out
}

func (p *pinnable) Pick(info PickInfo) (*registry.Node, error) {
	if info.Version == "" {
		return p.all.Pick(info)
	}
	var picker Picker
	if _, _, ok := parse(info.Version); ok {
		picker = p.semantic[canonical(info.Version)]
	} else {
		picker = p.text[info.Version]
	}
	if picker == nil {
		return nil, &VersionError{Version: info.Version}
	}
	info.Version = ""
	return picker.Pick(info)
}

var _ Picker = (*pinnable)(nil)
