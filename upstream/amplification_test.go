package upstream_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// TestRetryAmplificationAcrossHops measures what retries cost in a chain
// edge → hop1 → hop2 → leaf where the leaf fails half its requests and every
// hop may retry 3 times. Naive per-hop retries multiply: up to 4 attempts at
// each of 3 layers. With the rules of docs/budget.md (the hop next to the
// failure retries, within its retry budget, and tells the hops above not to
// retry again) leaf attempts stay near 1.2 per edge request.
func TestRetryAmplificationAcrossHops(t *testing.T) {
	var leafAttempts, hop2Attempts, hop1Attempts atomic.Int64
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	leaf := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leafAttempts.Add(1)
		mu.Lock()
		fail := rng.IntN(2) == 0
		mu.Unlock()
		if fail {
			http.Error(w, "leaf failed", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}\n"))
	})))
	t.Cleanup(leaf.Close)

	policy := upstream.DefaultRetryPolicy()
	policy.MaxRetries, policy.BackoffBase = 3, 0 // 3 retries per hop; no waiting, to keep the test quick
	// No per-try timeouts: on a loaded machine one would cut a slow answer
	// and retry it, which this test, about failures, does not measure.
	policy.PerTryTimeout = -1
	client := func(nodes ...*registry.Node) *upstream.Client {
		// Breakers and ejection are off: they would hide the retries' cost.
		return newClient(t, staticOf(t, nodes...), upstream.WithRetryPolicy(policy),
			upstream.WithBreakers(nil), upstream.WithEjector(nil))
	}
	hop := func(name string, counter *atomic.Int64, next string, c *upstream.Client) *httptest.Server {
		srv := rpc.NewServer()
		rpc.Register(srv, "Hop.Call", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
			counter.Add(1)
			if err := c.Call(upstream.WithIdempotent(ctx), next, "Hop.Call", struct{}{}, nil); err != nil {
				return nil, err
			}
			return &struct{}{}, nil
		})
		s := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(srv))
		t.Cleanup(s.Close)
		return s
	}
	node := func(service string, s *httptest.Server) *registry.Node {
		return &registry.Node{Service: service, Address: s.Listener.Addr().String()}
	}
	hop2 := hop("hop2", &hop2Attempts, "leaf", client(node("leaf", leaf)))
	hop1 := hop("hop1", &hop1Attempts, "hop2", client(node("hop2", hop2)))
	edge := client(node("hop1", hop1))

	const requests = 3000
	failed := 0
	for i := 0; i < requests; i++ {
		if err := edge.Call(upstream.WithIdempotent(context.Background()), "hop1", "Hop.Call", struct{}{}, nil); err != nil {
			failed++
		}
	}
	amp := float64(leafAttempts.Load()) / requests
	t.Logf("leaf attempts per edge request: %.3f (%d leaf attempts, %d hop2, %d hop1, %d edge requests, %d failed)",
		amp, leafAttempts.Load(), hop2Attempts.Load(), hop1Attempts.Load(), requests, failed)
	if hop1Attempts.Load() != requests || hop2Attempts.Load() != requests {
		t.Errorf("hops above the failure retried: hop1 %d, hop2 %d attempts for %d requests",
			hop1Attempts.Load(), hop2Attempts.Load(), requests)
	}
	if amp > 1.3 {
		t.Errorf("amplification %.3f, want near 1.2 (at most 1.3)", amp)
	}
	if amp < 1.1 {
		t.Errorf("amplification %.3f: the hop next to the failure did not retry within its budget", amp)
	}
}
