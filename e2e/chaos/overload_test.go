package chaos

import (
	"net/http"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestOverload offers three times what three nodes can serve (each serves
// two requests at once, 100 ms each: 60 req/s in all), every client asking
// for a 1 s budget. A request the gateway refuses at once (503 with
// Retry-After, or 429) is shed; every other one is admitted.
//
// Goals, over the run less its first two seconds: goodput (successes a
// second) at least 90 % of the capacity, and every admitted request
// answered 200 within its budget (as the client measures it, from when it
// wrote the request, with 50 ms for the client's own overhead: the wait for
// one of its connections, which the gateway never sees, is not counted).
func TestOverload(t *testing.T) {
	t.Parallel()
	const (
		nodes, concurrency = 3, 2
		service            = 100 * time.Millisecond
		budget             = time.Second
		grace              = 50 * time.Millisecond
		warmup             = 2 * time.Second
	)
	capacity := float64(nodes*concurrency) / service.Seconds()
	offered := int(3 * capacity)
	c := newCluster(t)
	bs := c.nodes(nodes, "work", "-delay", service.String(), "-concurrency", "2")
	warm(t, c, bs)

	ld := startLoad(t, c.url, offered, workers(offered, 2*budget), 5*time.Minute, gets("/work/", budgetHeader(budget)))
	from := ld.Started().Add(warmup)
	time.Sleep(warmup + cfg.overload)
	end := time.Now()
	ld.Stop()

	win := eload.Between(ld.Hits(), from, end)
	var ok, shed, late int
	var admittedFailed []hit
	for _, h := range win {
		switch {
		case h.Err == nil && (h.Status == http.StatusTooManyRequests ||
			h.Status == http.StatusServiceUnavailable && h.RetryAfter != ""):
			shed++
		case !h.OK():
			admittedFailed = append(admittedFailed, h)
		default:
			ok++
			if h.End.Sub(sentAt(h)) > budget+grace {
				late++
			}
		}
	}
	window := end.Sub(from)
	goodput := float64(ok) / window.Seconds()
	af := tallyOf(admittedFailed, "")
	figures(t, "overload 3x",
		"capacity %.0f/s, offered %d/s (sent %.0f/s) for %s | goodput %.1f/s = %.0f%% of capacity | shed %d | admitted %d: %d failed %s, %d past their budget | latency of successes p50 %s, p99 %s",
		capacity, offered, float64(len(win))/window.Seconds(), ms(window), goodput, 100*goodput/capacity, shed,
		len(win)-shed, af.failures(), af.kindList(), late, ms(quantileOK(win, 0.5)), ms(quantileOK(win, 0.99)))
	if goodput < 0.9*capacity {
		t.Errorf("goodput %.1f/s, want at least 90%% of the capacity %.0f/s", goodput, capacity)
	}
	if af.failures() > 0 {
		af.showFailures(t)
		t.Errorf("%d admitted requests failed, want none", af.failures())
	}
	if late > 0 {
		t.Errorf("%d admitted requests ended past their budget of %s, want none", late, budget)
	}
}

// warm sends GETs one at a time until every node has answered one, so that
// the gateway has discovered them.
func warm(t *testing.T, c *cluster, bs []*backend) {
	t.Helper()
	seen := map[string]bool{}
	i := 0
	eventually(t, "every node to answer", time.Minute, func() bool {
		i++
		var a struct {
			Node string `json:"node"`
		}
		resp, err := http.Get(c.url + "/work/w" + itoa(i))
		if err == nil {
			if resp.StatusCode == http.StatusOK && decodeJSON(resp, &a) == nil {
				seen[a.Node] = true
			}
			resp.Body.Close()
		}
		for _, b := range bs {
			if !seen[b.addr] {
				return false
			}
		}
		return true
	})
}

// quantileOK is quantile over the successes.
func quantileOK(hs []hit, q float64) time.Duration {
	var ok []hit
	for _, h := range hs {
		if h.OK() {
			ok = append(ok, h)
		}
	}
	return quantile(ok, q)
}

// sentAt is when h's request reached its connection (its Start when that
// is unknown).
func sentAt(h hit) time.Time {
	if h.Sent.IsZero() {
		return h.Start
	}
	return h.Sent
}
