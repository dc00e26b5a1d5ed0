package selector_test

import (
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// TestLeastLoadedComparesTheTwoDraws decides both draws and checks that the
// less loaded of the two is taken, the first on a tie.
func TestLeastLoadedComparesTheTwoDraws(t *testing.T) {
	all := nodes(5)
	// i = 1; j = i + 1 + 2 = 4.
	src := &draws{vals: []uint64{index(1, 5), index(2, 4)}}
	tests := []struct {
		name     string
		inFlight map[int]int
		want     int
	}{
		{"tie: the first draw", nil, 1},
		{"the second is less loaded", map[int]int{1: 1}, 4},
		{"the first is less loaded", map[int]int{4: 1}, 1},
		{"the others do not count", map[int]int{0: 5, 2: 5, 3: 5, 1: 2, 4: 1}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loads := selector.NewLoads()
			for i, k := range tt.inFlight {
				for range k {
					defer loads.Start(all[i])()
				}
			}
			p := selector.LeastLoaded(loads, selector.WithSource(src))(all)
			for range 10 {
				if n, _ := p.Pick(selector.PickInfo{}); n != all[tt.want] {
					t.Fatalf("picked %v, want %v", n, all[tt.want])
				}
			}
		})
	}
}

// TestLeastLoadedAvoidsTheBusiestNode holds requests in flight on two nodes:
// the busiest is never picked, since every pair holds a less loaded node,
// and the other only in the one pair in ten that pits it against the
// busiest. The source is seeded, so the counts are the same on every run.
func TestLeastLoadedAvoidsTheBusiestNode(t *testing.T) {
	all := nodes(5)
	loads := selector.NewLoads()
	defer loads.Start(all[0])()
	for range 2 {
		defer loads.Start(all[1])()
	}
	p := selector.LeastLoaded(loads, selector.WithSource(seeded()))(all)
	const picks = 10000
	counts := map[*registry.Node]int{}
	for range picks {
		n, err := p.Pick(selector.PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	if counts[all[1]] != 0 {
		t.Errorf("the busiest node got %d picks", counts[all[1]])
	}
	if k := counts[all[0]]; k < 850 || k > 1150 { // expect 1,000, σ = 30
		t.Errorf("the node with one request got %d picks, want about 1,000", k)
	}
	for _, n := range all[2:] {
		if k := counts[n]; k < 2850 || k > 3150 { // expect 3,000, σ = 41
			t.Errorf("idle node %v got %d picks, want about 3,000", n, k)
		}
	}
}

// TestLeastLoadedBreaksTiesAtRandom checks that equally loaded nodes share
// the picks evenly.
func TestLeastLoadedBreaksTiesAtRandom(t *testing.T) {
	all := nodes(4)
	p := selector.LeastLoaded(selector.NewLoads(), selector.WithSource(seeded()))(all)
	counts := map[*registry.Node]int{}
	for range 40000 {
		n, _ := p.Pick(selector.PickInfo{})
		counts[n]++
	}
	for _, n := range all {
		if k := counts[n]; k < 9500 || k > 10500 { // expect 10,000, σ = 87
			t.Errorf("node %v got %d of 40,000 picks", n, k)
		}
	}
}

// TestLeastLoadedRetries checks that tried nodes are left out of both draws:
// the only untried node is taken however loaded.
func TestLeastLoadedRetries(t *testing.T) {
	all := nodes(3)
	loads := selector.NewLoads()
	defer loads.Start(all[1])()
	p := selector.LeastLoaded(loads, selector.WithSource(seeded()))(all)
	for range 100 {
		if n, _ := p.Pick(selector.PickInfo{Tried: all[:1]}); n != all[2] {
			t.Fatalf("with n0 tried and n1 busy, picked %v, want n2", n)
		}
		if n, _ := p.Pick(selector.PickInfo{Tried: []*registry.Node{all[0], all[2]}}); n != all[1] {
			t.Fatalf("with only n1 untried, picked %v", n)
		}
	}
}

// TestLoadsSurviveARebuild checks that in-flight counts are keyed by node
// identity: a picker built over a new snapshot of the same nodes, as after a
// discovery refresh or a reload, sees the requests started before.
func TestLoadsSurviveARebuild(t *testing.T) {
	loads := selector.NewLoads()
	strategy := selector.LeastLoaded(loads)
	old := nodes(2)
	if n, _ := strategy(old).Pick(selector.PickInfo{}); n == nil {
		t.Fatal("no pick")
	}
	done := loads.Start(old[0])

	fresh := nodes(2) // equal keys, new pointers
	if got := loads.InFlight(fresh[0]); got != 1 {
		t.Fatalf("InFlight on the new snapshot = %d, want 1", got)
	}
	p := selector.LeastLoaded(loads)(fresh) // a new strategy, as after a reload
	for range 200 {
		if n, _ := p.Pick(selector.PickInfo{}); n != fresh[1] {
			t.Fatalf("picked %v, the node with a request in flight", n)
		}
	}
	done()
	if got := loads.InFlight(fresh[0]); got != 0 {
		t.Fatalf("InFlight after done = %d, want 0", got)
	}
}

func TestLeastLoadedNeedsLoads(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("LeastLoaded(nil) did not panic")
		}
	}()
	selector.LeastLoaded(nil)
}
