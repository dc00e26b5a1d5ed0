package chaos

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSIGTERMRollingRestart restarts the three nodes one after the other
// the polite way (SIGTERM: deregister, wait, drain, exit; then start again
// on the same address) under GETs and POSTs. Goal: no request fails, and no
// write is lost or duplicated.
func TestSIGTERMRollingRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), 5*time.Minute, getsAndPosts(nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	from := time.Now()
	for _, b := range nodes {
		b.term()
		b.restart()
		ld.WaitServed(t, b.registeredAt, 20, time.Minute, b.addr)
	}
	took := time.Since(from)
	ld.Stop()

	hs := ld.Hits()
	gets, posts := tallyOf(hs, http.MethodGet), tallyOf(hs, http.MethodPost)
	lost, duplicated := writeFaults(c.readWrites(), hs)
	figures(t, "SIGTERM rolling restart",
		"3 restarts in %s, %d req/s | GET %d sent, %d failed %s | POST %d sent, %d failed %s | lost %d, duplicated %d",
		ms(took), cfg.rate, gets.sent, gets.failures(), gets.kindList(), posts.sent, posts.failures(), posts.kindList(), lost, duplicated)
	for _, s := range []tally{gets, posts} {
		if s.failures() > 0 {
			s.showFailures(t)
			t.Errorf("%d of %d requests failed during the rolling restart, want none", s.failures(), s.sent)
		}
	}
	if lost+duplicated > 0 {
		t.Errorf("writes: %d lost, %d duplicated; want none", lost, duplicated)
	}
}

// TestReadd kills a node, waits for Consul to mark it critical, and starts
// it again on the same address. Goal: the restarted node gets its first
// request within 0.2 s of passing its Consul check (it passes as it
// registers), and no GET fails meanwhile.
func TestReadd(t *testing.T) {
	t.Parallel()
	const goal = 200 * time.Millisecond
	c := newCluster(t)
	nodes := c.nodes(3, "work")
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), 10*time.Minute, gets("/work/", nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	var delays []string
	slow := 0
	for i := range cfg.readds {
		b := nodes[i%len(nodes)]
		b.kill()
		critical := eventually(t, "Consul to mark the killed node critical", 2*time.Minute, func() bool {
			return !c.passing("work", b.addr)
		})
		b.restart()
		eventually(t, "the restarted node's first request", 2*time.Minute, func() bool {
			return b.stats().FirstRequestNs != 0
		})
		d := time.Unix(0, b.stats().FirstRequestNs).Sub(b.registeredAt)
		delays = append(delays, fmt.Sprintf("%s (critical %s after the kill)", ms(d), ms(critical)))
		if d > goal {
			slow++
			t.Errorf("restart %d: node %s got its first request %s after passing its check, want within %s", i+1, b.addr, d, goal)
		}
		ld.WaitServed(t, time.Now(), 20, 2*time.Minute, addrs(nodes)...)
	}
	ld.Stop()

	gets := tallyOf(ld.Hits(), http.MethodGet)
	figures(t, "readd", "%d restarts, %d req/s | first request after passing: %s | GET %d sent, %d failed %s",
		cfg.readds, cfg.rate, strings.Join(delays, ", "), gets.sent, gets.failures(), gets.kindList())
	if gets.failures() > 0 {
		gets.showFailures(t)
		t.Errorf("%d of %d GETs failed, want none", gets.failures(), gets.sent)
	}
}

// writeFaults counts the POSTs answered 200 that no node wrote (lost) and
// the ids written more than once (duplicated).
func writeFaults(w writeLog, hs []hit) (lost, duplicated int) {
	for _, h := range hs {
		if h.Method == http.MethodPost && h.OK() && w.written[h.ID] == 0 {
			lost++
		}
	}
	for _, n := range w.written {
		if n > 1 {
			duplicated++
		}
	}
	return lost, duplicated
}
