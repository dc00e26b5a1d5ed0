package selector

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// TestAuditEjectorForgetsNodesThatLeft: a node's entry went only with its
// next success, which a node that left discovery after failing never has
// (killed before it deregistered, replaced at a deploy). 100,000 such
// nodes, one every 100 ms (under three hours of churn), half refusing
// their last connection and half ejected, were 100,000 entries for as long
// as the process ran, and kept the refused and ejected counts above zero,
// so that every call of every service took Available's slower path. The
// entries of nodes neither ejected nor failing for healthForget are now
// forgotten as the table doubles.
func TestAuditEjectorForgetsNodesThatLeft(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now})
	const n = 100000
	for i := range n {
		node := &registry.Node{Service: fmt.Sprintf("svc-%d", i%50), ID: fmt.Sprintf("n%d", i),
			Address: fmt.Sprintf("10.%d.%d.%d:80", i>>16&255, i>>8&255, i&255)}
		if i%2 == 0 {
			e.Refused(node)
		} else {
			for range DefaultEjectFaults {
				e.Report(node, true)
			}
		}
		clk.t = clk.t.Add(100 * time.Millisecond)
	}
	e.mu.Lock()
	held := len(e.health)
	e.mu.Unlock()
	// Those that failed within the last healthForget are kept: 6,000 at
	// this pace, and up to twice that between sweeps.
	recent := int(healthForget / (100 * time.Millisecond))
	t.Logf("%d nodes that left: %d entries held, %d ejected, %d refused", n, held, e.ejected.Load(), e.refused.Load())
	if held > 2*recent {
		t.Errorf("%d nodes that failed and left are %d entries, want at most %d: the nodes that left are never forgotten", n, held, 2*recent)
	}
	if e.ejected.Load() > int64(held) || e.refused.Load() > int64(held) {
		t.Errorf("%d ejected and %d refused counted, beyond the %d entries held", e.ejected.Load(), e.refused.Load(), held)
	}
}
