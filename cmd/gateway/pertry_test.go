package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/upstream"
)

// flakyNode is a node that answers at once, but, once hang is set, takes
// every third request it gets and never answers it, until the gateway
// gives the attempt up (its connection closed). Of each request it hung
// on it keeps the budget the attempt was sent with (its Sluice-Budget
// ms: the attempt's per-try timeout, less the gateway's margin) and how
// long the gateway waited before it gave the attempt up.
type flakyNode struct {
	hang     atomic.Bool
	answered atomic.Int64
	n        atomic.Int64

	mu     sync.Mutex
	sent   []time.Duration // the budget of each hung attempt
	waited []time.Duration // how long each hung attempt was waited for
}

func (f *flakyNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hang.Load() && f.n.Add(1)%3 == 0 {
		start := time.Now()
		h, err := budget.Parse(r.Header.Get(budget.HeaderName))
		<-r.Context().Done() // the gateway closed the connection: the attempt was cut
		f.mu.Lock()
		defer f.mu.Unlock()
		if err == nil {
			f.sent = append(f.sent, h.Remaining)
		}
		f.waited = append(f.waited, time.Since(start))
		return
	}
	_, _ = io.WriteString(w, "ok")
	f.answered.Add(1)
}

// timedGet GETs url with c, and returns how long it took, and whether the
// answer was a 200.
func timedGet(c *http.Client, url string) (time.Duration, bool) {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == http.StatusOK
}

// quantile returns the q quantile of ds, sorted in place.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)]
}

// A gateway with the defaults in front of three nodes of one service: one
// slow (it answers in 200 ms), one fast, and one fast that, once the
// gateway knows the service, hangs on every third request. The derived
// per-try timeout of an attempt to the flaky node is the node's own (3 ×
// its high latency, at least 250 ms), not the service's: the slow peer's
// answers made the service's high latency 200 ms and every node's per-try
// timeout 600 ms, so each hung attempt cost its GET 600 ms before the
// retry (603 to 853 ms; the GETs' p99 615 to 624 ms), where the fast
// nodes' answers allow 250 (now 251 ms; p99 257 to 261 ms).
func TestASlowNodeDoesNotLoosenTheCutOfAHungAttemptOnItsPeer(t *testing.T) {
	var slowAnswered atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // a slow node's work
		_, _ = io.WriteString(w, "ok")
		slowAnswered.Add(1)
	}))
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	flaky := &flakyNode{}
	flakySrv := httptest.NewServer(flaky)
	t.Cleanup(slow.Close)
	t.Cleanup(fast.Close)
	t.Cleanup(flakySrv.Close)
	addr := gatewayOver(t, "path: /x", slow.Listener.Addr().String(), fast.Listener.Addr().String(),
		flakySrv.Listener.Addr().String())

	// getAll sends n GETs, clients at a time, and returns the time each
	// answered one took, and how many failed.
	getAll := func(clients, n int) (lat []time.Duration, failed int64) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		var taken atomic.Int64
		for range clients {
			wg.Go(func() {
				c := &http.Client{Timeout: waitLimit}
				for taken.Add(1) <= int64(n) {
					d, ok := timedGet(c, "http://"+addr+"/x")
					mu.Lock()
					if ok {
						lat = append(lat, d)
					} else {
						failed++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lat, failed
	}
	// Until the service and each node have answered enough for their
	// latency to be known (20 answers), the slow node among them.
	for range 50 {
		if flaky.answered.Load() >= 40 && slowAnswered.Load() >= 3 {
			break
		}
		getAll(8, 40)
	}
	if flaky.answered.Load() < 40 || slowAnswered.Load() < 3 {
		t.Fatalf("the nodes answered %d (flaky) and %d (slow) GETs: the test tells nothing",
			flaky.answered.Load(), slowAnswered.Load())
	}

	flaky.hang.Store(true)
	const clients, gets = 8, 320
	lat, failed := getAll(clients, gets)
	flaky.mu.Lock()
	sent, waited := slices.Clone(flaky.sent), slices.Clone(flaky.waited)
	flaky.mu.Unlock()
	t.Logf("%d GETs, %d failed: p50 %v, p99 %v, max %v; %d hung attempts, sent with a budget of %v (p50) to %v (max), given up after %v (p50), %v (p99)",
		gets, failed, quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1),
		len(waited), quantile(sent, 0.5), quantile(sent, 1), quantile(waited, 0.5), quantile(waited, 0.99))
	if len(sent) == 0 {
		t.Fatal("no attempt hung on the flaky node: the test tells nothing")
	}
	if failed > 0 {
		t.Errorf("%d of %d GETs failed, want none: a hung attempt is retried", failed, gets)
	}
	// The budget an attempt is sent with is its per-try timeout less the
	// gateway's margin: read off the request, it does not depend on the
	// machine's pace. The flaky node's own is the floor (250 ms); the
	// slow node's answers make the service's at least 600 ms. Between the
	// two, a stall of the loaded machine in one of the flaky node's
	// answers (up to 166 ms) is no failure.
	if m := quantile(sent, 1); m >= 2*upstream.DefaultPerTryFloor {
		t.Errorf("a hung attempt on a fast node was sent with a budget of %v, want its own per-try timeout (%v, the floor), not 3 × the slow peer's latency",
			m, upstream.DefaultPerTryFloor)
	}
}
