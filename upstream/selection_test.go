package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// newHoldBackend starts a backend that names itself in the X-Node field. It
// answers a request with an X-Hold field with its header at once and its
// body only when the test ends, so that the request stays in flight for as
// long as the caller keeps the body open; any other request it answers
// whole.
func newHoldBackend(t *testing.T, name string) *backend {
	release := make(chan struct{})
	b := newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", name)
		if r.Header.Get("X-Hold") == "" {
			_, _ = io.WriteString(w, name)
			return
		}
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	return b
}

// hold sends a request that stays in flight until its body is closed, and
// returns the response.
func hold(t *testing.T, c *upstream.Client) *http.Response {
	t.Helper()
	r := get(t, context.Background(), "/hold")
	r.Header.Set("X-Hold", "1")
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// answeredBy makes a call and returns the name of the node that answered.
func answeredBy(t *testing.T, ctx context.Context, c *upstream.Client) string {
	t.Helper()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

// TestDoCountsRequestsInFlight checks that a request counts as in flight on
// its node from the attempt until its body is closed, and a failed attempt
// not at all once it has failed.
func TestDoCountsRequestsInFlight(t *testing.T) {
	b := newHoldBackend(t, "b")
	dead := deadNode(t, "dead")
	loads := selector.NewLoads()
	c := newClient(t, staticOf(t, dead, b.node()), upstream.WithLoads(loads), upstream.WithStrategy(inOrder))

	resp := hold(t, c) // dead first, then b
	if got := loads.InFlight(b.node()); got != 1 {
		t.Fatalf("with the body open, %d in flight on the node, want 1", got)
	}
	if got := loads.InFlight(dead); got != 0 {
		t.Fatalf("the failed attempt still counts: %d in flight", got)
	}
	resp.Body.Close()
	resp.Body.Close() // a second Close must not count the request out twice
	if got := loads.InFlight(b.node()); got != 0 {
		t.Fatalf("after Close, %d in flight, want 0", got)
	}
	done := loads.Start(b.node())
	if got := loads.InFlight(b.node()); got != 1 {
		t.Fatalf("after a double Close, a new request counts %d, want 1", got)
	}
	done()

	// A body read to the end and closed, through Call.
	if err := c.Call(context.Background(), service, "Any.Thing", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := loads.InFlight(b.node()); got != 0 {
		t.Fatalf("after Call, %d in flight, want 0", got)
	}
}

// TestDefaultStrategyAvoidsABusyNode checks that the default strategy is
// least-loaded: while a request is in flight on one of two nodes, every
// other call goes to the other one.
func TestDefaultStrategyAvoidsABusyNode(t *testing.T) {
	a, b := newHoldBackend(t, "a"), newHoldBackend(t, "b")
	c := newClient(t, staticOf(t, a.node(), b.node()))
	resp := hold(t, c)
	defer resp.Body.Close()
	busy := resp.Header.Get("X-Node")
	for range 20 {
		if got := answeredBy(t, context.Background(), c); got == busy {
			t.Fatalf("a call went to %s, which has a request in flight", got)
		}
	}
}

// TestLoadsOutliveTheClient checks that two clients sharing a Loads, as the
// clients before and after a reload do, see each other's requests.
func TestLoadsOutliveTheClient(t *testing.T) {
	a, b := newHoldBackend(t, "a"), newHoldBackend(t, "b")
	reg := staticOf(t, a.node(), b.node())
	loads := selector.NewLoads()
	before := newClient(t, reg, upstream.WithLoads(loads))
	resp := hold(t, before)
	defer resp.Body.Close()
	busy := resp.Header.Get("X-Node")

	after := newClient(t, reg, upstream.WithLoads(loads))
	for range 20 {
		if got := answeredBy(t, context.Background(), after); got == busy {
			t.Fatalf("the new client sent a call to %s, busy with the old client's request", got)
		}
	}
}

// TestDoConcurrentCountsReturnToZero runs calls from many goroutines through
// the default strategy, under -race: once all are done, nothing is in flight.
func TestDoConcurrentCountsReturnToZero(t *testing.T) {
	var nodes []*registry.Node
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, newBackend(t, name, nil).node())
	}
	loads := selector.NewLoads()
	c := newClient(t, staticOf(t, nodes...), upstream.WithLoads(loads))
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 20 {
				resp, err := c.Do(get(t, context.Background(), "/"))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, n := range nodes {
		if got := loads.InFlight(n); got != 0 {
			t.Errorf("%v: %d in flight after every call ended", n, got)
		}
	}
}

func versionedNode(b *backend, v string) *registry.Node {
	n := b.node()
	n.Version = v
	return n
}

// TestDoPinnedVersion checks that a context pinned with WithVersion sends
// every attempt to nodes of that version, retries included, and that a
// version no node runs fails with 503 no-nodes.
func TestDoPinnedVersion(t *testing.T) {
	old, canary, canary2 := newBackend(t, "old", nil), newBackend(t, "canary", nil), newBackend(t, "canary2", nil)
	dead := deadNode(t, "dead")
	dead.Version = "2.1.0"
	reg := staticOf(t, dead, versionedNode(old, "2.0.3"), versionedNode(canary, "2.1.0"), versionedNode(canary2, "v2.1.4"))

	t.Run("exact", func(t *testing.T) {
		c := newClient(t, reg, upstream.WithStrategy(inOrder))
		ctx := upstream.WithVersion(context.Background(), "2.1.0")
		if got := upstream.PinnedVersion(ctx); got != "2.1.0" {
			t.Fatalf("PinnedVersion = %q", got)
		}
		for range 5 { // the dead node first, then the retry within 2.1.0
			if got := answeredBy(t, ctx, c); got != "canary" {
				t.Fatalf("pinned to 2.1.0, answered by %s", got)
			}
		}
	})
	t.Run("prefix, default strategy", func(t *testing.T) {
		c := newClient(t, reg)
		ctx := upstream.WithVersion(context.Background(), "2.1")
		for range 20 {
			if got := answeredBy(t, ctx, c); got == "old" {
				t.Fatal("pinned to 2.1, answered by 2.0.3")
			}
		}
		if got := answeredBy(t, upstream.WithVersion(ctx, ""), c); got == "" {
			t.Fatal("unpinned call failed")
		}
	})
	t.Run("no such version", func(t *testing.T) {
		c := newClient(t, reg)
		ctx := upstream.WithVersion(context.Background(), "3")
		_, err := c.Do(get(t, ctx, "/"))
		var ne *upstream.NoNodesError
		var ve *selector.VersionError
		if !errors.As(err, &ne) || !errors.As(err, &ve) || ve.Version != "3" || !errors.Is(err, selector.ErrNoNodes) {
			t.Fatalf("error %v, want a *NoNodesError wrapping a *VersionError for 3", err)
		}
		if status, _, _ := rpc.StatusOf(err); status != http.StatusServiceUnavailable {
			t.Fatalf("StatusOf = %d, want 503", status)
		}
		if err := c.Call(ctx, service, "Any.Thing", struct{}{}, nil); !errors.As(err, &ve) {
			t.Fatalf("Call pinned to 3: %v, want a *VersionError", err)
		}
	})
}
