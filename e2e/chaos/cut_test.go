package chaos

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
	"github.com/sluicehq/sluice/internal/problem"
)

// cutGoal is the largest share of requests that may fail while one node of
// three cuts every answer short: the few that reach it before its failures
// keep it out. A node judged by its answers' heads drew a third of them or
// more, since failing fast it has the fewest requests in flight.
const cutGoal = 0.02

// TestCutBodies makes one node of three answer every request 200 and drop
// the connection mid-body (a node that crashes, or whose proxy resets,
// mid-answer), under GETs and POSTs. Such an answer cannot be retried, its
// head is gone to the client: goal: at most 2% of each method fail.
func TestCutBodies(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), 5*time.Minute, getsAndPosts(nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	bad := nodes[0]
	bad.setCut(1)
	from := time.Now()
	time.Sleep(cfg.window)
	ld.Stop()

	win := eload.Since(ld.Hits(), from)
	gets, posts := tallyOf(win, http.MethodGet), tallyOf(win, http.MethodPost)
	figures(t, "one node cuts bodies",
		"%s, %d req/s | GET %d sent, %d failed %s | POST %d sent, %d failed %s | cutting node's requests %d | latency p99 %s",
		ms(cfg.window), cfg.rate, gets.sent, gets.failures(), gets.kindList(), posts.sent, posts.failures(), posts.kindList(),
		bad.stats().Failed, ms(quantile(win, 0.99)))
	for _, s := range []tally{gets, posts} {
		if float64(s.failures()) > cutGoal*float64(s.sent) {
			s.showFailures(t)
			t.Errorf("%d of %d requests failed, want at most %.0f%%", s.failures(), s.sent, 100*cutGoal)
		}
		if n := s.kinds["503 circuit-open"]; n > 0 {
			t.Errorf("%d requests answered 503 circuit-open, want none: one node of three is not an outage", n)
		}
	}
}

// TestEveryNodeCutsBodies makes all three nodes answer every request 200
// and drop the connection mid-body: the service is down, though every
// answer's head says it is fine. Goal: the breaker opens, with the default
// settings, within cutBreakerWithin: the gateway answers 503 circuit-open
// without sending. A breaker that counted answers at their heads saw only
// successes and never opened.
func TestEveryNodeCutsBodies(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), 5*time.Minute, getsAndPosts(nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	for _, b := range nodes {
		b.setCut(1)
	}
	from := time.Now()
	took := ld.WaitFor(t, "the breaker to open", cutBreakerWithin, func(hs []eload.Hit) bool {
		for _, h := range eload.Since(hs, from) {
			if h.Status == http.StatusServiceUnavailable && h.Type == problem.TypeCircuitOpen {
				return true
			}
		}
		return false
	})
	ld.Stop()
	gets := tallyOf(eload.Since(ld.Hits(), from), http.MethodGet)
	figures(t, "every node cuts bodies", "%d req/s | breaker open after %s | GET %d sent, %s",
		cfg.rate, ms(took), gets.sent, gets.kindList())
}

// cutBreakerWithin bounds the wait for the breaker to open in
// TestEveryNodeCutsBodies: it opens after 20 calls in its window, a tenth
// of a second at the load's rate; the bound is for a loaded machine.
const cutBreakerWithin = time.Minute

// setCut sets the share of the node's answers cut short mid-body.
func (b *backend) setCut(share float64) {
	t := b.c.t
	t.Helper()
	resp, err := http.Post("http://"+b.addr+"/_chaos/set?"+url.Values{"cut": {strconv.FormatFloat(share, 'f', -1, 64)}}.Encode(), "", nil)
	if err != nil {
		t.Fatalf("setting node %s: %v", b.addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("setting node %s: status %d", b.addr, resp.StatusCode)
	}
}
