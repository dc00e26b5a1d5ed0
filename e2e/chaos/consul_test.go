package chaos

import (
	"net/http"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestConsulOutage stops the Consul agent for the outage under GETs and
// POSTs, then starts it again, empty: the nodes register again with their
// next heartbeat and the gateway re-syncs. Goal: no request fails, during
// the outage or after, and the gateway serves all three nodes again.
func TestConsulOutage(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), 5*time.Minute, getsAndPosts(nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)
	eventually(t, "the gateway to serve the 3 nodes", time.Minute, func() bool { return c.gatewaySees("work", 3) })

	down := time.Now()
	c.agent.Stop()
	time.Sleep(time.Until(down.Add(cfg.outage))) // the outage lasts a set time
	back := time.Now()
	c.agent.Restart()
	restarted := time.Now()
	resync := eventually(t, "the gateway to re-sync the 3 nodes", 2*time.Minute, func() bool { return c.gatewaySees("work", 3) })
	ld.WaitServed(t, time.Now(), 20, time.Minute, addrs(nodes)...)
	ld.Stop()

	hs := ld.Hits()
	during := tallyOf(eload.Between(hs, down, back), "")
	gets, posts := tallyOf(hs, http.MethodGet), tallyOf(hs, http.MethodPost)
	figures(t, "Consul down",
		"%s down, %d req/s | during: %d sent, %d failed | re-synced %s after Consul's return (restart took %s) | whole run: GET %d sent, %d failed %s; POST %d sent, %d failed %s",
		ms(back.Sub(down)), cfg.rate, during.sent, during.failures(), ms(resync), ms(restarted.Sub(back)),
		gets.sent, gets.failures(), gets.kindList(), posts.sent, posts.failures(), posts.kindList())
	for _, s := range []tally{gets, posts} {
		if s.failures() > 0 {
			s.showFailures(t)
			t.Errorf("%d of %d requests failed around the Consul outage, want none", s.failures(), s.sent)
		}
	}
	if during.sent < cfg.rate*int(cfg.outage/time.Second)/2 {
		t.Errorf("only %d requests during the outage: the load did not run", during.sent)
	}
}
