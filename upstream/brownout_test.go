package upstream_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/upstream"
)

// TestABrownedOutNodeDrawsLittleTraffic has one node of three fail half its
// requests, instantly, under concurrent calls, with ejection off so that
// selection alone is tested: the failure penalty keeps least-loaded
// selection from favouring the node (it has the fewest requests in flight),
// so that it sees at most a tenth of the calls, and retries absorb its
// failures.
func TestABrownedOutNodeDrawsLittleTraffic(t *testing.T) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(5, 6))
	var attempts atomic.Int64
	count := func(then http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			if then != nil {
				then(w, r)
			}
		}
	}
	flaky := newBackend(t, "flaky", count(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := rng.IntN(2) == 0
		mu.Unlock()
		if fail {
			http.Error(w, "browned out", http.StatusServiceUnavailable)
		}
	}))
	a, b := newBackend(t, "a", count(nil)), newBackend(t, "b", count(nil))
	c := newClient(t, staticOf(t, flaky.node(), a.node(), b.node()), upstream.WithEjector(nil))
	const workers, each = 6, 100
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				resp, err := c.Do(get(t, context.Background(), "/"))
				if err != nil {
					failed.Add(1)
					continue
				}
				readAll(t, resp)
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	per := float64(attempts.Load()) / (workers * each)
	t.Logf("one node of three failing 50%%: %d of %d calls failed, %.3f attempts per call, the flaky node saw %d",
		failed.Load(), workers*each, per, len(flaky.seen()))
	if failed.Load() != 0 {
		t.Errorf("%d calls failed", failed.Load())
	}
	if n := len(flaky.seen()); n > workers*each/10 {
		t.Errorf("the failing node saw %d of %d calls, want at most a tenth", n, workers*each)
	}
	if per > 1.1 {
		t.Errorf("%.3f attempts per call, want at most 1.1", per)
	}
}
