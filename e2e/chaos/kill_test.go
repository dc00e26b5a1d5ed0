package chaos

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

// TestSIGKILL kills one of three nodes every killEvery and starts it again
// on its address restartAfter the kill, under a load of GETs and of POSTs
// with unique ids, at 0 ms and at 50 ms of service time (about five
// requests in flight per node at 300 req/s).
//
// Goals: no GET fails; a POST fails only when it was in flight on the
// killed node (started before it was gone, ended after the kill, received by no
// other node) and is then answered 502 may-have-been-processed; no POST
// answered 200 is missing from the write logs (lost), none is written
// twice (duplicated), and none answered otherwise than
// may-have-been-processed was written (failed-but-written).
func TestSIGKILL(t *testing.T) {
	t.Parallel()
	for _, svc := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run("service="+svc.String(), func(t *testing.T) {
			t.Parallel()
			killScenario(t, svc)
		})
	}
}

// kill is one SIGKILL: its node, when the signal was sent and when the
// process was gone.
type kill struct {
	node         string
	before, gone time.Time
}

func killScenario(t *testing.T, svc time.Duration) {
	c := newCluster(t)
	nodes := c.nodes(3, "work", "-delay", svc.String())
	limit := time.Duration(cfg.kills)*cfg.killEvery + 3*time.Minute // a bound; stop ends it
	ld := startLoad(t, c.url, cfg.rate, workers(cfg.rate, time.Second), limit, getsAndPosts(nil))
	ld.WaitServed(t, time.Time{}, 20, time.Minute, addrs(nodes)...)

	var kills []kill
	for k := range cfg.kills {
		b := nodes[k%len(nodes)]
		before, gone := b.kill()
		kills = append(kills, kill{node: b.addr, before: before, gone: gone})
		time.Sleep(time.Until(before.Add(cfg.restartAfter))) // the scenario's schedule
		b.restart()
		time.Sleep(time.Until(before.Add(cfg.killEvery)))
	}
	ld.Stop()

	hs := ld.Hits()
	gets, posts := tallyOf(hs, http.MethodGet), tallyOf(hs, http.MethodPost)
	w := c.readWrites()
	var inFlight, lost, duplicated, failedWritten, maybeWritten int
	var outside []hit // POST failures the goal does not allow
	for _, h := range hs {
		if h.Method != http.MethodPost {
			continue
		}
		written := w.written[h.ID] > 0
		if h.OK() {
			if !written {
				lost++
			}
			continue
		}
		maybe := h.Err == nil && h.Status == http.StatusBadGateway && h.Type == problem.TypeMaybeDone
		switch {
		case maybe && written:
			maybeWritten++
		case written:
			failedWritten++
		}
		onKilled := false
		for _, k := range kills {
			if h.Start.Before(k.gone) && h.End.After(k.before) && !w.receivedElsewhere(h.ID, k.node) {
				onKilled = true
			}
		}
		if onKilled {
			inFlight++
		}
		if !maybe || !onKilled {
			outside = append(outside, h)
		}
	}
	for _, n := range w.written {
		if n > 1 {
			duplicated++
		}
	}
	figures(t, "SIGKILL svc="+svc.String(),
		"%d kills, %d req/s | GET %d sent, %d failed %s | POST %d sent, %d failed %s, %d of them in flight on the killed node | lost %d, duplicated %d, failed-but-written %d (may-have-been-processed and written: %d) | ticks skipped %d",
		len(kills), cfg.rate, gets.sent, gets.failures(), gets.kindList(), posts.sent, posts.failures(), posts.kindList(),
		inFlight, lost, duplicated, failedWritten, maybeWritten, ld.Skipped())

	if gets.failures() > 0 {
		gets.showFailures(t)
		t.Errorf("%d of %d GETs failed, want none", gets.failures(), gets.sent)
	}
	if len(outside) > 0 {
		(tally{failed: outside}).showFailures(t)
		for _, k := range kills {
			t.Logf("killed %s at %s, gone at %s", k.node, k.before.Format("15:04:05.000"), k.gone.Format("15:04:05.000"))
		}
		t.Errorf("%d POSTs failed other than in flight on the killed node and answered 502 may-have-been-processed, want none", len(outside))
	}
	if lost+duplicated+failedWritten > 0 {
		t.Errorf("writes: %d lost, %d duplicated, %d failed-but-written; want none", lost, duplicated, failedWritten)
	}
}

// addrs lists the nodes' addresses.
func addrs(bs []*backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.addr
	}
	return out
}
