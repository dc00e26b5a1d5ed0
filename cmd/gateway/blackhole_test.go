package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// One node of three that refuses every request at once, through the
// gateway with the defaults, 8 clients at a time: as a node whose minimum
// budget is above the route's (504 budget-too-low, a rolling deploy that
// raised it), or whose own limit refuses (429). Answering at once, it
// looked the least loaded and drew most calls: 62 % of them failed with
// budget-too-low, 61 to 64 % went to the 429 node (a helper's probe, in
// the upstream client). Now the refused call goes to another node, or the
// node is avoided: few calls reach it, and none fails for budget-too-low.
func TestANodeThatRefusesAtOnceDrawsNoMoreThanItsShare(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // a healthy node's work
		_, _ = io.WriteString(w, "ok")
	})
	for _, tc := range []struct {
		name     string
		refuser  http.Handler
		failsMax float64 // the share of calls that may fail
	}{
		{"budget-too-low", budget.Inbound(budget.ServerPolicy{Min: 2 * time.Second})(ok), 0},
		{"429", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}), 0.15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refused atomic.Int64
			bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				refused.Add(1)
				tc.refuser.ServeHTTP(w, r)
			}))
			t.Cleanup(bad.Close)
			good1, good2 := httptest.NewServer(ok), httptest.NewServer(ok)
			t.Cleanup(good1.Close)
			t.Cleanup(good2.Close)
			addr := gatewayOver(t, "path: /x, budget: {timeout: 1s}", bad.Listener.Addr().String(), good1.Listener.Addr().String(), good2.Listener.Addr().String())
			const clients, each = 8, 50
			var failed atomic.Int64
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					c := &http.Client{Timeout: waitLimit}
					for range each {
						resp, err := c.Get("http://" + addr + "/x")
						if err != nil {
							failed.Add(1)
							continue
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "ok") {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			calls := int64(clients * each)
			t.Logf("%d of %d calls failed; the refusing node got %d", failed.Load(), calls, refused.Load())
			if float64(failed.Load()) > tc.failsMax*float64(calls) || refused.Load() > calls/3 {
				t.Errorf("%d of %d calls failed, the refusing node got %d: want at most %.0f%% failed and no more than its third",
					failed.Load(), calls, refused.Load(), 100*tc.failsMax)
			}
		})
	}
}
