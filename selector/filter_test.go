package selector_test

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// inDCs returns nodes in the given datacenters, in order.
func inDCs(dcs ...string) []*registry.Node {
	out := versioned(repeat("1.0.0", len(dcs))...)
	for i, dc := range dcs {
		out[i].Datacenter = dc
	}
	return out
}

func TestFilter(t *testing.T) {
	all := inDCs("eu", "us", "eu", "us")
	p := selector.Filter(selector.InDatacenter("eu"), selector.RoundRobin)(all)
	counts := pickCounts(t, p, 100, selector.PickInfo{})
	if counts[all[0]] != 50 || counts[all[2]] != 50 {
		t.Fatalf("picks %v, want 50 each on the eu nodes", counts)
	}
	// A hard filter: a retry goes back to a tried kept node, never elsewhere.
	if n, _ := p.Pick(selector.PickInfo{Tried: []*registry.Node{all[0], all[2]}}); n.Datacenter != "eu" {
		t.Fatalf("retry left the filter: %v", n)
	}
}

func TestFilterWithNoMatch(t *testing.T) {
	p := selector.Filter(selector.InDatacenter("ap"), selector.RoundRobin)(inDCs("eu", "us"))
	if n, err := p.Pick(selector.PickInfo{}); n != nil || !errors.Is(err, selector.ErrNoNodes) {
		t.Fatalf("Pick = %v, %v; want ErrNoNodes", n, err)
	}
}

func TestPrefer(t *testing.T) {
	all := inDCs("us", "eu", "us", "eu")
	s := selector.Prefer(selector.InDatacenter("eu"), selector.RoundRobin)
	p := s(all)
	for range 100 {
		if n, _ := p.Pick(selector.PickInfo{}); n.Datacenter != "eu" {
			t.Fatalf("picked %v with local nodes left", n)
		}
	}
	if n, _ := p.Pick(selector.PickInfo{Tried: all[1:2]}); n != all[3] {
		t.Fatalf("with one local node tried, picked %v, want the other local one", n)
	}
	for range 100 {
		if n, _ := p.Pick(selector.PickInfo{Tried: []*registry.Node{all[1], all[3]}}); n.Datacenter != "us" {
			t.Fatalf("every local node tried: picked %v, want a remote one", n)
		}
	}
	if n, err := p.Pick(selector.PickInfo{Tried: all}); err != nil || n == nil {
		t.Fatalf("every node tried: %v, %v; want some node", n, err)
	}
}

// TestPreferFallsBack checks that a snapshot with no preferred node is
// served by the others rather than failing.
func TestPreferFallsBack(t *testing.T) {
	all := inDCs("us", "us")
	p := selector.Prefer(selector.InDatacenter("eu"), selector.RoundRobin)(all)
	counts := pickCounts(t, p, 10, selector.PickInfo{})
	if counts[all[0]] != 5 || counts[all[1]] != 5 {
		t.Fatalf("picks %v, want the remote nodes in turn", counts)
	}
	if _, err := selector.Prefer(selector.InDatacenter("eu"), selector.RoundRobin)(nil).Pick(selector.PickInfo{}); !errors.Is(err, selector.ErrNoNodes) {
		t.Fatalf("no nodes at all: %v, want ErrNoNodes", err)
	}
}

func TestPredicates(t *testing.T) {
	n := &registry.Node{Datacenter: "eu", Version: "2.1.3", Metadata: map[string]string{"zone": "a", "empty": ""}}
	bare := &registry.Node{}
	tests := []struct {
		name string
		f    func(*registry.Node) bool
		n    *registry.Node
		want bool
	}{
		{"metadata equal", selector.MetadataEquals("zone", "a"), n, true},
		{"metadata differs", selector.MetadataEquals("zone", "b"), n, false},
		{"metadata empty value", selector.MetadataEquals("empty", ""), n, true},
		{"metadata missing is not empty", selector.MetadataEquals("missing", ""), n, false},
		{"metadata nil map", selector.MetadataEquals("zone", "a"), bare, false},
		{"datacenter", selector.InDatacenter("eu"), n, true},
		{"other datacenter", selector.InDatacenter("us"), n, false},
		{"unknown datacenter", selector.InDatacenter(""), bare, true},
		{"version prefix", selector.VersionIs("2.1"), n, true},
		{"other version", selector.VersionIs("2.2"), n, false},
	}
	for _, tt := range tests {
		if got := tt.f(tt.n); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
