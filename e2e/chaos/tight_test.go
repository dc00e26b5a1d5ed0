package chaos

import (
	"net/http"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestTightClient has one client ask for a 50 ms budget (Sluice-Budget:
// ms=50) from nodes that need 150 ms, while other clients ask for nothing
// (the route's default budget). Goals: every request of the tight client is
// answered 504, and no request of the others fails: a budget the client
// chose is not the service's fault.
func TestTightClient(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work", "-delay", "150ms")
	rate := max(20, cfg.rate/4)
	others := startLoad(t, c.url, rate, workers(rate, 2*time.Second), 5*time.Minute, gets("/work/", nil))
	others.WaitServed(t, time.Time{}, 10, time.Minute, addrs(nodes)...)

	from := time.Now()
	tight := startLoad(t, c.url, rate, workers(rate, time.Second), 5*time.Minute, gets("/work/", budgetHeader(50*time.Millisecond)))
	time.Sleep(cfg.window)
	tight.Stop()
	others.Stop()

	ts := tallyOf(tight.Hits(), "")
	not504 := 0
	for _, h := range tight.Hits() {
		if h.Err != nil || h.Status != http.StatusGatewayTimeout {
			not504++
		}
	}
	all := tallyOf(others.Hits(), "")
	during := tallyOf(eload.Since(others.Hits(), from), "")
	figures(t, "tight client",
		"%s, %d + %d req/s | tight (ms=50, nodes need 150ms): %d sent, %d not 504 %s | others: %d sent while it ran, %d failed in the whole run %s",
		ms(cfg.window), rate, rate, ts.sent, not504, ts.kindList(), during.sent, all.failures(), all.kindList())
	if not504 > 0 {
		t.Errorf("%d of the tight client's %d requests were not answered 504", not504, ts.sent)
	}
	if all.failures() > 0 {
		all.showFailures(t)
		t.Errorf("%d of the other clients' %d requests failed, want none", all.failures(), all.sent)
	}
}
