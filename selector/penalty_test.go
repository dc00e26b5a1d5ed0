package selector_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

func TestLeastLoadedAvoidsARecentlyFailedNode(t *testing.T) {
	now := time.Unix(0, 0)
	loads := selector.NewLoads(selector.WithClock(func() time.Time { return now }))
	nodes := penaltyNodes()
	p := selector.LeastLoaded(loads)(nodes)
	for _, n := range nodes[1:] {
		for range 5 { // the healthy nodes are busy; the failing one is idle
			loads.Start(n)
		}
	}
	loads.Penalize(nodes[0])
	for i := range 300 {
		if n, _ := p.Pick(selector.PickInfo{}); n == nodes[0] {
			t.Fatalf("pick %d went to the node that just failed, idle as it is", i)
		}
	}
	now = now.Add(10 * selector.PenaltyHalfLife)
	picked := 0
	for range 300 {
		if n, _ := p.Pick(selector.PickInfo{}); n == nodes[0] {
			picked++
		}
	}
	if picked == 0 {
		t.Fatal("the penalty did not decay: the node never came back")
	}
	loads.Penalize(nodes[0])
	loads.Forgive(nodes[0])
	if pen := loads.Penalty(nodes[0]); pen != 0 {
		t.Fatalf("penalty %v after Forgive", pen)
	}
}

func penaltyNodes() []*registry.Node {
	return []*registry.Node{
		{Service: "svc", Address: "10.0.0.1:80"}, {Service: "svc", Address: "10.0.0.2:80"}, {Service: "svc", Address: "10.0.0.3:80"},
	}
}
