package chaos

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestSIGSTOP stops one of three nodes (SIGSTOP: its connections stay open
// and its port accepts, but nothing answers, and its heartbeats stop) for
// the hang, under GETs whose clients ask for a 1 s budget, then lets it go
// on (SIGCONT). Goal: no GET fails.
func TestSIGSTOP(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, 2*time.Second), 5*time.Minute, gets("/work/", budgetHeader(time.Second)))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	b := nodes[1]
	stopped := time.Now()
	b.p.signal(syscall.SIGSTOP)
	critical := time.Duration(-1)
	for end := stopped.Add(cfg.hang); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if critical < 0 && !c.passing("work", b.addr) {
			critical = time.Since(stopped)
		}
	}
	b.p.signal(syscall.SIGCONT)
	resumed := time.Now()
	// Back in service: reported, not a goal.
	backIn := "not within 30s"
	for end := resumed.Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if tallyOf(eload.Since(ld.Hits(), resumed), "").byNode[b.addr] > 0 {
			backIn = ms(time.Since(resumed))
			break
		}
	}
	ld.Stop()

	hs := ld.Hits()
	all := tallyOf(hs, http.MethodGet)
	during := tallyOf(eload.Between(hs, stopped, resumed), http.MethodGet)
	crit := "not within the stop"
	if critical >= 0 {
		crit = "after " + ms(critical)
	}
	figures(t, "SIGSTOP, 1s budget",
		"stopped %s (Consul critical %s), %d req/s | GET %d sent, %d failed %s; %d sent during the stop, %d failed | node back in service %s after SIGCONT",
		ms(resumed.Sub(stopped)), crit, cfg.rate, all.sent, all.failures(), all.kindList(), during.sent, during.failures(), backIn)
	if all.failures() > 0 {
		all.showFailures(t)
		t.Errorf("%d of %d GETs failed, want none", all.failures(), all.sent)
	}
}
