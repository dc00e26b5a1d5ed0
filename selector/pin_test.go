package selector_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

func TestPinnable(t *testing.T) {
	all := versioned("1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "v2.0.0+b2", "blue", "")
	tests := []struct {
		pin  string
		want []int // indices of the acceptable nodes
	}{
		{"", []int{0, 1, 2, 3, 4, 5, 6}},
		{"1.9.0", []int{0}},
		{"1.10.0", []int{1}},
		{"1.10", []int{1}},
		{"1", []int{0, 1}},
		{"v1", []int{0, 1}},
		{"2.0.0", []int{3, 4}},
		{"2.0.0+other", []int{3, 4}},
		{"2.0.0-rc.1", []int{2}},
		{"2", []int{2, 3, 4}},
		{"blue", []int{5}},
	}
	p := selector.Pinnable(selector.RoundRobin)(all)
	for _, tt := range tests {
		t.Run(tt.pin, func(t *testing.T) {
			want := make([]*registry.Node, len(tt.want))
			for i, k := range tt.want {
				want[i] = all[k]
			}
			seen := map[*registry.Node]bool{}
			for range 3 * len(want) {
				n, err := p.Pick(selector.PickInfo{Version: tt.pin})
				if err != nil {
					t.Fatal(err)
				}
				if !containsPtr(want, n) {
					t.Fatalf("pinned to %q, picked %v (version %q)", tt.pin, n, n.Version)
				}
				seen[n] = true
			}
			if len(seen) != len(want) { // round robin within the group
				t.Fatalf("pinned to %q, reached %d of %d nodes", tt.pin, len(seen), len(want))
			}
		})
	}
}

// TestPinnableUnknownVersion checks that a pin no node matches fails with
// a *VersionError that wraps ErrNoNodes and names the version.
func TestPinnableUnknownVersion(t *testing.T) {
	p := selector.Pinnable(selector.RoundRobin)(versioned("1.0.0", "1.1.0"))
	for _, pin := range []string{"1.2.0", "2", "1.2", ">=1.0.0", "1.0.0-rc.1"} {
		n, err := p.Pick(selector.PickInfo{Version: pin})
		var ve *selector.VersionError
		if n != nil || !errors.Is(err, selector.ErrNoNodes) || !errors.As(err, &ve) || ve.Version != pin ||
			!strings.Contains(err.Error(), `"`+pin+`"`) {
			t.Errorf("pin %q: %v, %v; want a *VersionError naming it", pin, n, err)
		}
	}
}

// TestPinnableRetry checks that a pinned retry stays within the version,
// going back to a tried node rather than to another version.
func TestPinnableRetry(t *testing.T) {
	all := versioned("1.0.0", "2.0.0", "2.0.0")
	p := selector.Pinnable(selector.LeastLoaded(selector.NewLoads()))(all)
	for range 100 {
		if n, _ := p.Pick(selector.PickInfo{Version: "2", Tried: all[1:2]}); n != all[2] {
			t.Fatalf("picked %v, want the untried 2.0.0 node", n)
		}
		if n, _ := p.Pick(selector.PickInfo{Version: "2", Tried: all[1:]}); n == all[0] {
			t.Fatal("a pinned retry left its version")
		}
	}
}

// TestPinnableSharesTheRotation checks that a pin every node matches uses
// the unpinned picker: pinned and unpinned picks take turns together.
func TestPinnableSharesTheRotation(t *testing.T) {
	all := versioned("1.0.0", "1.0.1", "1.1.0")
	p := selector.Pinnable(selector.RoundRobin)(all)
	first, _ := p.Pick(selector.PickInfo{})
	second, _ := p.Pick(selector.PickInfo{Version: "1"})
	third, _ := p.Pick(selector.PickInfo{})
	if first == second || second == third || first == third {
		t.Fatalf("picks %v, %v, %v: not one rotation", first, second, third)
	}
}
