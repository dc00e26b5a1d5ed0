package selector_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// nodes returns n distinct nodes of one service. Every fifth node, starting
// with the first, runs version 2.0.0; the others 1.4.0.
func nodes(n int) []*registry.Node {
	out := make([]*registry.Node, n)
	for i := range out {
		v := "1.4.0"
		if i%5 == 0 {
			v = "2.0.0"
		}
		out[i] = &registry.Node{Service: "svc", ID: fmt.Sprintf("n%d", i),
			Address: fmt.Sprintf("10.0.0.%d:80", i%250+1), Version: v}
	}
	return out
}

// byIndex weighs node n<i> 1 + i%3.
func byIndex(n *registry.Node) float64 {
	var i int
	_, _ = fmt.Sscanf(n.ID, "n%d", &i)
	return float64(1 + i%3)
}

// strategy is a strategy under the tests every strategy must pass.
type strategy struct {
	name string
	s    selector.Strategy
	// spreads is true when every node of nodes(n) gets picks.
	spreads bool
}

var strategies = []strategy{
	{"RoundRobin", selector.RoundRobin, true},
	{"Random", selector.Random, true},
	{"LeastLoaded", selector.LeastLoaded(selector.NewLoads()), true},
	{"Weighted", selector.Weighted(byIndex), true},
	{"WeightedFromMetadata", selector.Weighted(selector.MetadataWeight("weight", 1)), true},
	{"Canary", selector.Canary([]selector.Split{{Version: "2", Weight: 0.3}}, selector.RoundRobin), true},
	{"Filter", selector.Filter(selector.InDatacenter(""), selector.LeastLoaded(selector.NewLoads())), true},
	{"Prefer", selector.Prefer(selector.VersionIs("2.0.0"), selector.RoundRobin), false},
	{"Pinnable", selector.Pinnable(selector.LeastLoaded(selector.NewLoads())), true},
}

func TestEmptySnapshot(t *testing.T) {
	for _, st := range strategies {
		for _, ns := range [][]*registry.Node{nil, {}} {
			t.Run(st.name, func(t *testing.T) {
				n, err := st.s(ns).Pick(selector.PickInfo{})
				if !errors.Is(err, selector.ErrNoNodes) || n != nil {
					t.Fatalf("Pick on no nodes = %v, %v; want nil, ErrNoNodes", n, err)
				}
			})
		}
	}
}

func TestPickSkipsTried(t *testing.T) {
	all := nodes(5)
	tests := []struct {
		name  string
		tried []*registry.Node
		want  []*registry.Node // acceptable picks
	}{
		{"none tried", nil, all},
		{"one tried", all[:1], all[1:]},
		{"all but one tried", all[:4], all[4:]},
		{"tried in another order", []*registry.Node{all[3], all[0], all[4], all[1]}, all[2:3]},
		{"tried by value from another snapshot", []*registry.Node{
			{Service: "svc", ID: "n0", Address: "10.0.0.1:80"},
			{Service: "svc", ID: "n1", Address: "10.0.0.2:80"},
		}, all[2:]},
		{"all tried", all, all},
	}
	for _, st := range strategies {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				p := st.s(all)
				for range 200 {
					n, err := p.Pick(selector.PickInfo{Tried: tt.tried})
					if err != nil {
						t.Fatal(err)
					}
					if !containsPtr(tt.want, n) {
						t.Fatalf("Pick(%v) = %v, want one of %v", tt.tried, n, tt.want)
					}
				}
			})
		}
	}
}

func containsPtr(ns []*registry.Node, n *registry.Node) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}

// TestPickerSafeForConcurrentUse runs many goroutines on one picker, under
// -race. Round robin stays exact under concurrency: every node gets the same
// number of turns. Then concurrent picks with tried nodes all avoid them.
func TestPickerSafeForConcurrentUse(t *testing.T) {
	const goroutines, picks, n = 8, 600, 6
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			all := nodes(n)
			p := st.s(all)
			counts := make([]map[*registry.Node]int, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					c := make(map[*registry.Node]int)
					for range picks {
						node, err := p.Pick(selector.PickInfo{})
						if err != nil {
							t.Error(err)
							return
						}
						c[node]++
					}
					counts[g] = c
				})
			}
			wg.Wait()
			total := make(map[*registry.Node]int)
			for _, c := range counts {
				for node, k := range c {
					total[node] += k
				}
			}
			for _, node := range all {
				// The rarest node of a spreading strategy gets 1/12 of the
				// picks (Weighted): missing it 4,800 times has odds below 10⁻¹⁸⁰.
				k := total[node]
				if st.spreads && k == 0 || st.name == "RoundRobin" && k != goroutines*picks/n {
					t.Fatalf("node %v picked %d times of %d", node, k, goroutines*picks)
				}
			}

			tried, untried := all[:n-1], all[n-1]
			for range goroutines {
				wg.Go(func() {
					for range picks {
						if node, err := p.Pick(selector.PickInfo{Tried: tried}); err != nil || node != untried {
							t.Errorf("Pick(all but one) = %v, %v; want %v", node, err, untried)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
