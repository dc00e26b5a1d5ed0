package selector_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// nodes returns n distinct nodes of one service.
func nodes(n int) []*registry.Node {
	out := make([]*registry.Node, n)
	for i := range out {
		out[i] = &registry.Node{Service: "svc", ID: fmt.Sprintf("n%d", i), Address: fmt.Sprintf("10.0.0.%d:80", i%250+1)}
	}
	return out
}

var strategies = []struct {
	name string
	s    selector.Strategy
}{
	{"RoundRobin", selector.RoundRobin},
	{"Random", selector.Random},
}

func TestEmptySnapshot(t *testing.T) {
	for _, st := range strategies {
		for _, ns := range [][]*registry.Node{nil, {}} {
			t.Run(st.name, func(t *testing.T) {
				n, err := st.s(ns).Pick(nil)
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
					n, err := p.Pick(tt.tried)
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
						node, err := p.Pick(nil)
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
				k := total[node]
				if k == 0 || st.name == "RoundRobin" && k != goroutines*picks/n {
					t.Fatalf("node %v picked %d times of %d", node, k, goroutines*picks)
				}
			}

			tried, untried := all[:n-1], all[n-1]
			for range goroutines {
				wg.Go(func() {
					for range picks {
						if node, err := p.Pick(tried); err != nil || node != untried {
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

func TestPickAllocatesNothing(t *testing.T) {
	all := nodes(1000)
	tried := all[:3]
	for _, st := range strategies {
		p := st.s(all)
		for _, tc := range []struct {
			name  string
			tried []*registry.Node
		}{{"nil", nil}, {"tried", tried}} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				allocs := testing.AllocsPerRun(1000, func() {
					if _, err := p.Pick(tc.tried); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Fatalf("Pick allocates %v times, want 0", allocs)
				}
			})
		}
	}
}

func BenchmarkRoundRobinPick(b *testing.B) { benchPick(b, selector.RoundRobin) }

func BenchmarkRandomPick(b *testing.B) { benchPick(b, selector.Random) }

// benchPick measures Pick over 1,000 nodes, from one goroutine and from
// GOMAXPROCS goroutines sharing the picker.
func benchPick(b *testing.B, s selector.Strategy) {
	p := s(nodes(1000))
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Pick(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Pick(nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
