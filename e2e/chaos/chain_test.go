package chaos

import (
	"net/http"
	"testing"
	"time"
)

// TestChainBrownout sends GETs through a chain of three hops of chaosnodes,
// each calling the next through its own upstream.Client with every setting
// at its default: gateway → front (2 nodes) → mid (2) → leaf (2), and makes
// every leaf node answer half its requests 503. Goals: at least 70 % of the
// edge requests succeed, and the leaf sees at most 1.4 attempts per edge
// request.
//
// Each leaf attempt succeeds with probability ½ whatever node it goes to,
// so the edge success can be at most half the leaf attempts per edge
// request: the two goals together ask for retries at the leaf's caller on
// nearly every first failure, and almost never twice.
func TestChainBrownout(t *testing.T) {
	t.Parallel()
	const wantSuccess, wantAttempts = 0.70, 1.4
	c := newCluster(t)
	leaves := c.nodes(2, "leaf")
	c.nodes(2, "mid", "-next", "leaf")
	c.nodes(2, "front", "-next", "mid")
	ld := startLoad(t, c.url, cfg.chainRate, workers(cfg.chainRate, time.Second), 5*time.Minute, gets("/chain/", nil))
	ld.waitServed(t, time.Time{}, 20, time.Minute, addrs(leaves)...)

	before, failedBefore := requests(leaves)
	from := time.Now()
	for _, l := range leaves {
		l.set(0, 0.5)
	}
	time.Sleep(cfg.chainWindow)
	ld.stop()
	after, failedAfter := requests(leaves)
	leafAttempts, leafFailed := after-before, failedAfter-failedBefore

	s := tallyOf(startedSince(ld.snapshot(), from), http.MethodGet)
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
}
