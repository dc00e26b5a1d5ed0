package selector_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// A canary of 2.1.0 on one node of ten gets 5% of the picks, not 10%; a
// call pinned to it gets it every time. In production, main owns loads and
// the upstream Client applies Pinnable and counts the requests.
func ExampleCanary() {
	var nodes []*registry.Node
	for i := range 10 {
		v := "2.0.3"
		if i == 0 {
			v = "2.1.0"
		}
		nodes = append(nodes, &registry.Node{Service: "billing", Address: fmt.Sprintf("10.0.0.%d:8080", i+1), Version: v})
	}
	loads := selector.NewLoads()
	splits := []selector.Split{{Version: "2.1.0", Weight: 0.05}}
	if err := selector.ValidateSplits(splits); err != nil { // at configuration load
		panic(err)
	}
	src := rand.NewPCG(1, 2) // seeded, for a stable output
	strategy := selector.Pinnable(selector.Canary(splits, selector.LeastLoaded(loads, selector.WithSource(src)),
		selector.WithSource(src)))
	picker := strategy(nodes) // once per snapshot

	canary := 0
	for range 10000 {
		n, err := picker.Pick(selector.PickInfo{})
		if err != nil {
			panic(err)
		}
		if n.Version == "2.1.0" {
			canary++
		}
	}
	fmt.Printf("canary share: %.0f%%\n", float64(canary)/100)

	n, _ := picker.Pick(selector.PickInfo{Version: "2.1"})
	fmt.Println("pinned to 2.1:", n.Version)
	_, err := picker.Pick(selector.PickInfo{Version: "3"})
	fmt.Println(err)
	// Output:
	// canary share: 5%
	// pinned to 2.1: 2.1.0
	// selector: no nodes of pinned version "3"
}
