package chaos

import (
	"net/http"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestChainBrownout sends GETs through a chain of three hops of chaosnodes,
// each calling the next through its own upstream.Client with every setting
// at its default: gateway → front (2 nodes) → mid (2) → leaf (2), and makes
// every leaf node answer half its requests 503. Goals: the retries bounded
// at the leaf (at most 1.4 attempts per edge request), the retries working
// (at least 60 % of the edge requests succeed, where none retried would give
// 50 %), and no breaker turning the brownout into an outage (no 503
// circuit-open).
//
// Issue 11 asked for at least 70 % success at at most 1.4 attempts. With
// every leaf attempt succeeding with probability ½ whatever node it goes
// to, the expected successful leaf attempts per edge request are half the
// leaf attempts (Wald's identity), and an edge request succeeds exactly when
// one of its leaf attempts does: edge success = ½ × attempts, so 70 % needs
// exactly 1.4 attempts — a goal met half the time by chance. The retry
// budget (20 % of requests plus 10/s per process) puts the attempts near
// 1.2 + 10·P/R (docs/budget.md), so the success near 60 % plus the floor's
// share; more would need a larger retry budget, which multiplies load
// exactly when a service is weakest.
func TestChainBrownout(t *testing.T) {
	t.Parallel()
	const wantSuccess, wantAttempts = 0.60, 1.4
	c := newCluster(t)
	leaves := c.nodes(2, "leaf")
	c.nodes(2, "mid", "-next", "leaf")
	c.nodes(2, "front", "-next", "mid")
	ld := startLoad(t, c.url, cfg.chainRate, workers(cfg.chainRate, time.Second), 5*time.Minute, gets("/chain/", nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(leaves)...)

	before, failedBefore := requests(leaves)
	from := time.Now()
	for _, l := range leaves {
		l.set(0, 0.5)
	}
	time.Sleep(cfg.chainWindow)
	ld.Stop()
	after, failedAfter := requests(leaves)
	leafAttempts, leafFailed := after-before, failedAfter-failedBefore

	s := tallyOf(eload.Since(ld.Hits(), from), http.MethodGet)
	success := float64(s.ok) / float64(s.sent)
	attempts := float64(leafAttempts) / float64(s.sent)
	figures(t, "3-hop, leaf 50% 503",
		"%s, %d req/s | %d edge requests, %.1f%% succeeded | %.3f leaf attempts per edge request (%.1f%% of them failed) | failures %s",
		ms(cfg.chainWindow), cfg.chainRate, s.sent, 100*success, attempts, 100*float64(leafFailed)/float64(leafAttempts), s.kindList())
	if success < wantSuccess {
		t.Errorf("edge success %.1f%%, want at least %.0f%%", 100*success, 100*wantSuccess)
	}
	if attempts > wantAttempts {
		t.Errorf("%.3f leaf attempts per edge request, want at most %.1f", attempts, wantAttempts)
	}
	if n := s.kinds["503 circuit-open"]; n > 0 {
		t.Errorf("%d edge requests answered 503 circuit-open, want none: a brownout is not an outage", n)
	}
}
