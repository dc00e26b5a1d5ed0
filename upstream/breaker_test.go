package upstream_test

import (
	"context"
	"errors"
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

// watchedBreakers returns breakers with the default settings that count the
// times any of them opened.
func watchedBreakers(opened *atomic.Int64) *upstream.Breakers {
	return upstream.NewBreakers(upstream.BreakerSettings{OnStateChange: func(_ string, _, to upstream.CircuitState) {
		if to == upstream.CircuitOpen {
			opened.Add(1)
		}
	}})
}

// TestBreakerStaysClosedWhenOneNodeDies kills one node of three while five
// requests are in flight on it, and keeps calling: its requests in flight
// and the refused connections that follow are retried on the other nodes,
// and the service's breaker, with its defaults, stays closed.
func TestBreakerStaysClosedWhenOneNodeDies(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	victim := newBackend(t, "victim", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			held.Add(1)
			<-release
		}
	})
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the servers close
	var opened atomic.Int64
	// In order: every first attempt goes to the victim, the worst case for
	// the breaker; retries go to a, then b.
	c := newClient(t, staticOf(t, victim.node(), a.node(), b.node()), upstream.WithStrategy(inOrder),
		upstream.WithBreakers(watchedBreakers(&opened)))

	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 5 {
		wg.Go(func() {
			resp, err := c.Do(get(t, context.Background(), "/hold"))
			if err != nil {
				t.Errorf("a request in flight on the killed node: %v", err)
				failed.Add(1)
				return
			}
			readAll(t, resp)
		})
	}
	waitFor(t, func() bool { return held.Load() == 5 }, "five requests in flight on the victim")
	victim.srv.Listener.Close() // new connections are refused
	victim.srv.CloseClientConnections()
	wg.Wait()
	for i := range 200 {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Errorf("call %d after the kill: %v", i, err)
			failed.Add(1)
			continue
		}
		readAll(t, resp)
	}
	free()
	t.Logf("one node of three killed with 5 requests in flight: %d of 205 calls failed, breaker opened %d times",
		failed.Load(), opened.Load())
	if opened.Load() != 0 {
		t.Fatalf("the breaker opened %d times: one dead node became the service's outage", opened.Load())
	}
}

// TestBreakerStaysClosedInALeafBrownout runs a chain edge → hop1 → hop2 →
// leaf whose three leaf nodes fail half their requests, every hop with the
// default breakers, ejection and retry policy (without back-off, to be
// quick): retries at hop2 absorb the brownout, and no breaker opens.
func TestBreakerStaysClosedInALeafBrownout(t *testing.T) {
	var leafAttempts atomic.Int64
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(3, 4))
	var leaves []*registry.Node
	for range 3 {
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
		leaves = append(leaves, &registry.Node{Service: "leaf", Address: leaf.Listener.Addr().String()})
	}
	var opened atomic.Int64
	policy := upstream.DefaultRetryPolicy()
	policy.BackoffBase = 0
	client := func(nodes ...*registry.Node) *upstream.Client {
		return newClient(t, staticOf(t, nodes...), upstream.WithRetryPolicy(policy),
			upstream.WithBreakers(watchedBreakers(&opened)))
	}
	hop := func(next string, c *upstream.Client) *registry.Node {
		srv := rpc.NewServer()
		rpc.Register(srv, "Hop.Call", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
			return &struct{}{}, c.Call(upstream.WithIdempotent(ctx), next, "Hop.Call", struct{}{}, nil)
		})
		s := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(srv))
		t.Cleanup(s.Close)
		return &registry.Node{Service: "hop-" + next, Address: s.Listener.Addr().String()}
	}
	hop2 := hop("leaf", client(leaves...))
	hop2.Service = "hop2"
	hop1 := hop("hop2", client(hop2))
	hop1.Service = "hop1"
	edge := client(hop1)

	const requests = 400
	failed := 0
	for range requests {
		err := edge.Call(upstream.WithIdempotent(context.Background()), "hop1", "Hop.Call", struct{}{}, nil)
		var open *upstream.CircuitOpenError
		if errors.As(err, &open) {
			t.Fatalf("circuit open: %v", err)
		}
		if err != nil {
			failed++
		}
	}
	t.Logf("leaf failing 50%%: edge success %d of %d (%.1f%%), %.2f leaf attempts per edge request, breakers opened %d times",
		requests-failed, requests, 100*float64(requests-failed)/requests, float64(leafAttempts.Load())/requests, opened.Load())
	if opened.Load() != 0 {
		t.Fatalf("a breaker opened %d times in a brownout that retries absorb", opened.Load())
	}
}

// TestBreakerOpensWhenEveryNodeIsDown has every node of three fail: the
// breaker, with its defaults, opens, and then sends nothing.
func TestBreakerOpensWhenEveryNodeIsDown(t *testing.T) {
	var nodes []*registry.Node
	var backends []*backend
	for _, name := range []string{"a", "b", "c"} {
		be := newBackend(t, name, status(http.StatusServiceUnavailable))
		backends = append(backends, be)
		nodes = append(nodes, be.node())
	}
	var opened atomic.Int64
	c := newClient(t, staticOf(t, nodes...), upstream.WithBreakers(watchedBreakers(&opened)),
		upstream.WithRetryPolicy(fastRetries(2)))
	calls := 0
	for ; calls < 100 && opened.Load() == 0; calls++ {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err == nil {
			readAll(t, resp)
		}
	}
	if opened.Load() == 0 {
		t.Fatal("the breaker never opened on a service whose every node fails")
	}
	sent := func() (n int) {
		for _, be := range backends {
			n += len(be.seen())
		}
		return n
	}
	before := sent()
	for range 20 {
		_, err := c.Do(get(t, context.Background(), "/"))
		var open *upstream.CircuitOpenError
		if !errors.As(err, &open) {
			t.Fatalf("with the breaker open: %v", err)
		}
	}
	if after := sent(); after != before {
		t.Fatalf("%d attempts reached the nodes while the breaker was open", after-before)
	}
	t.Logf("every node down: the breaker opened after %d calls", calls)
}
