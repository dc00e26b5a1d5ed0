package selector

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/registry"
)

// TestRoundRobinFairPast32Bits checks that turns stay fair once the counter
// passes 2³², where a 32-bit counter wraps and, for a node count that does not
// divide 2³², gives one node two turns in a row.
func TestRoundRobinFairPast32Bits(t *testing.T) {
	all := []*registry.Node{
		{Service: "s", Address: "a:1"}, {Service: "s", Address: "b:1"}, {Service: "s", Address: "c:1"},
	}
	rr := RoundRobin(all).(*roundRobin)
	rr.next.Store(math.MaxUint32 - 4)
	var prev *registry.Node
	for range 9 {
		n, err := rr.Pick(PickInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if n == prev {
			t.Fatalf("node %v picked twice in a row across 2³²", n)
		}
		prev = n
	}
}
