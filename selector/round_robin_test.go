package selector_test

import (
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// TestRoundRobinTakesTurns checks true round robin across calls: N*k picks
// from N nodes hit each node exactly k times, and consecutive picks walk the
// snapshot in order.
func TestRoundRobinTakesTurns(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64} {
		const k = 5
		all := nodes(n)
		p := selector.RoundRobin(all)
		index := make(map[*registry.Node]int, n)
		for i, node := range all {
			index[node] = i
		}
		counts := make(map[*registry.Node]int, n)
		prev := -1
		for range n * k {
			node, err := p.Pick(selector.PickInfo{})
			if err != nil {
				t.Fatal(err)
			}
			counts[node]++
			i := index[node]
			if prev >= 0 && i != (prev+1)%n {
				t.Fatalf("n=%d: picked node %d after node %d", n, i, prev)
			}
			prev = i
		}
		for _, node := range all {
			if counts[node] != k {
				t.Fatalf("n=%d: node %v picked %d times in %d picks, want %d", n, node, counts[node], n*k, k)
			}
		}
	}
}

// TestRoundRobinStartsAtRandom checks that pickers built over one snapshot do
// not all start on the same node, so that many processes do not move in step.
// Forty builds over four nodes all starting alike happens with odds 4⁻³⁹.
func TestRoundRobinStartsAtRandom(t *testing.T) {
	all := nodes(4)
	first := make(map[*registry.Node]bool)
	for range 40 {
		node, err := selector.RoundRobin(all).Pick(selector.PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		first[node] = true
	}
	if len(first) < 2 {
		t.Fatalf("40 round robin pickers all started on the same node")
	}
}

// TestRoundRobinRetryWalksOn checks that a retry which skips tried nodes
// still takes the next turn, and that picks keep rotating afterwards.
func TestRoundRobinRetryWalksOn(t *testing.T) {
	all := nodes(3)
	p := selector.RoundRobin(all)
	first, _ := p.Pick(selector.PickInfo{})
	second, _ := p.Pick(selector.PickInfo{Tried: []*registry.Node{first}})
	third, _ := p.Pick(selector.PickInfo{Tried: []*registry.Node{first, second}})
	if first == second || second == third || first == third {
		t.Fatalf("a call that tried %v then %v got %v", first, second, third)
	}
	again, _ := p.Pick(selector.PickInfo{Tried: []*registry.Node{first, second, third}})
	if again == nil {
		t.Fatal("Pick with every node tried returned no node")
	}
}

func TestRandomCoversAllNodes(t *testing.T) {
	all := nodes(5)
	p := selector.Random(all)
	seen := make(map[*registry.Node]bool)
	// The odds of 5,000 uniform picks missing one of five nodes are below 10⁻⁴⁰⁰.
	for i := 0; i < 5000 && len(seen) < len(all); i++ {
		node, err := p.Pick(selector.PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		seen[node] = true
	}
	if len(seen) != len(all) {
		t.Fatalf("random picks reached %d of %d nodes", len(seen), len(all))
	}
}
