package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

func node(t *testing.T, status int) *registry.Node {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	t.Cleanup(srv.Close)
	return &registry.Node{Service: "s", Address: srv.Listener.Addr().String()}
}

// TestAttemptsByOutcomeAndKind calls a service whose one node fails and
// whose other answers: the failure is a first attempt, the answer a retry;
// then, with a retry budget of nothing, the retry is refused and counted.
func TestAttemptsByOutcomeAndKind(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewUpstream(reg)
	bad, good := node(t, http.StatusBadGateway), node(t, http.StatusOK)
	// First the bad node alone.
	disc, err := registry.NewStatic(bad)
	if err != nil {
		t.Fatal(err)
	}
	call := func(c *upstream.Client) {
		req, _ := http.NewRequest("GET", "http://s/", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}
	// The retry budget refuses every retry: one failed first attempt, one
	// refusal.
	tight := upstream.DefaultRetryPolicy()
	tight.BudgetRatio, tight.BudgetFloor = 0.0001, 0
	call(upstream.New(disc, upstream.WithObserver(m), upstream.WithRetryPolicy(tight), upstream.WithEjector(nil)))
	// Now both nodes, retries allowed: the bad node is tried first (the
	// strategy is pinned to it), the good one answers the retry.
	disc.Set("s", []*registry.Node{bad, good})
	call(upstream.New(disc, upstream.WithObserver(m), upstream.WithEjector(nil), upstream.WithStrategy(inOrder)))

	const want = `
# HELP sluice_upstream_attempts_total Attempts sent to a service's nodes, by service, outcome (as upstream.Outcome classifies it) and kind (first, retry, hedge).
# TYPE sluice_upstream_attempts_total counter
sluice_upstream_attempts_total{kind="first",outcome="failed",service="s"} 2
sluice_upstream_attempts_total{kind="retry",outcome="success",service="s"} 1
# HELP sluice_upstream_retry_budget_refusals_total Retries and hedges that the service's retry budget refused, by service.
# TYPE sluice_upstream_retry_budget_refusals_total counter
sluice_upstream_retry_budget_refusals_total{service="s"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sluice_upstream_attempts_total", "sluice_upstream_retry_budget_refusals_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "sluice_budget_remaining_seconds"); err != nil || n != 1 {
		t.Errorf("budget remaining: %d series (%v), want 1 (service s, hop 1)", n, err)
	}
	if c, _ := testutil.GatherAndCount(reg, "sluice_upstream_attempt_duration_seconds"); c != 1 {
		t.Errorf("attempt latency: %d series, want 1", c)
	}
}

func TestHopLabel(t *testing.T) {
	for hop, want := range map[int]string{-1: "0", 0: "0", 1: "1", 7: "7", 8: "8+", 255: "8+"} {
		if got := metrics.HopLabel(hop); got != want {
			t.Errorf("HopLabel(%d) = %q, want %q", hop, got, want)
		}
	}
	if got := metrics.OutcomeLabel(upstream.ClientFault); got != "client_fault" {
		t.Errorf("OutcomeLabel(ClientFault) = %q", got)
	}
}

// inOrder picks the first node not tried yet, in the registry's order.
func inOrder(nodes []*registry.Node) selector.Picker { return orderPicker(nodes) }

type orderPicker []*registry.Node

func (p orderPicker) Pick(info selector.PickInfo) (*registry.Node, error) {
next:
	for _, n := range p {
		for _, t := range info.Tried {
			if n.Same(t) {
				continue next
			}
		}
		return n, nil
	}
	return nil, selector.ErrNoNodes
}
