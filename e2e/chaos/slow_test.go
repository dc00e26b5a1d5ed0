package chaos

import (
	"net/http"
	"slices"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestSlowNode adds 800 ms to one node of three under GETs. Goal: no GET
// fails. The slow node's share of the answers and the latency are reported.
func TestSlowNode(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, 2*time.Second), 5*time.Minute, gets("/work/", nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	slow := nodes[0]
	slow.set(800*time.Millisecond, 0)
	from := time.Now()
	time.Sleep(cfg.window)
	ld.Stop()

	hs := ld.Hits()
	all := tallyOf(hs, http.MethodGet)
	win := eload.Since(hs, from)
	s := tallyOf(win, http.MethodGet)
	figures(t, "one node +800ms",
		"%s, %d req/s | GET %d sent, %d failed %s | slow node's share %.1f%% | latency p50 %s, p99 %s",
		ms(cfg.window), cfg.rate, s.sent, all.failures(), all.kindList(), 100*s.share(slow.addr),
		ms(quantile(win, 0.5)), ms(quantile(win, 0.99)))
	if all.failures() > 0 {
		all.showFailures(t)
		t.Errorf("%d of %d GETs failed, want none", all.failures(), all.sent)
	}
}

// TestBrownout makes one node of three answer half its requests 503 under
// GETs. Goals: no GET fails, and the nodes see at most 1.2 attempts per
// request.
func TestBrownout(t *testing.T) {
	t.Parallel()
	const goal = 1.2
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), 5*time.Minute, gets("/work/", nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	before, _ := requests(nodes)
	from := time.Now()
	nodes[0].set(0, 0.5)
	time.Sleep(cfg.window)
	ld.Stop()
	after, _ := requests(nodes)
	attemptsSeen := after - before

	hs := ld.Hits()
	all := tallyOf(hs, http.MethodGet)
	s := tallyOf(eload.Since(hs, from), http.MethodGet)
	attempts := float64(attemptsSeen) / float64(s.sent)
	figures(t, "one node 50% 503",
		"%s, %d req/s | GET %d sent, %d failed %s | %.3f attempts per request | browned-out node's share of successes %.1f%%",
		ms(cfg.window), cfg.rate, s.sent, all.failures(), all.kindList(), attempts, 100*s.share(nodes[0].addr))
	if all.failures() > 0 {
		all.showFailures(t)
		t.Errorf("%d of %d GETs failed, want none", all.failures(), all.sent)
	}
	if attempts > goal {
		t.Errorf("%.3f attempts per request, want at most %.1f", attempts, goal)
	}
}

// quantile returns the q-quantile of the hits' latencies.
func quantile(hs []hit, q float64) time.Duration {
	if len(hs) == 0 {
		return 0
	}
	ds := make([]time.Duration, len(hs))
	for i, h := range hs {
		ds[i] = h.End.Sub(h.Start)
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
