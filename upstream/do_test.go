package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

func TestDoSendsToTheNode(t *testing.T) {
	b := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, b.node()))
	resp, err := c.Do(get(t, context.Background(), "/things?x=1"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "b" {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	h := b.seen()
	if len(h) != 1 || h[0].Method != http.MethodGet || h[0].Path != "/things" || h[0].Host != service {
		t.Fatalf("backend saw %+v", h)
	}
}

// TestDoReturnsErrorStatuses checks that Do hands back a node's answer
// whatever its status: only transport failures are errors, and a 500 (an
// application's own failure) is not retried.
func TestDoReturnsErrorStatuses(t *testing.T) {
	failing := newBackend(t, "failing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	})
	spare := newBackend(t, "spare", nil)
	c := newClient(t, staticOf(t, failing.node(), spare.node()), upstream.WithStrategy(inOrder))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 500 || body != "down\n" {
		t.Fatalf("answer %d %q, want the failing node's 500", resp.StatusCode, body)
	}
	if n := len(spare.seen()); n != 0 {
		t.Fatalf("an answered request was retried %d times", n)
	}
}

// TestDoRequestWithoutHeader checks a request built by hand with a nil
// Header, which net/http treats as empty.
func TestDoRequestWithoutHeader(t *testing.T) {
	b := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, b.node()))
	r := (&http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: service, Path: "/"}}).
		WithContext(context.Background())
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if h := b.seen(); len(h) != 1 || h[0].Budget == "" {
		t.Fatalf("backend saw %+v, want one request with a budget", h)
	}
}

func TestDoNoNodes(t *testing.T) {
	reg := staticOf(t)
	reg.Set(service, nil)
	tests := []struct {
		name    string
		service string
		cause   error
	}{
		{"service without nodes", service, selector.ErrNoNodes},
		{"unknown service", "unknown", registry.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, reg)
			r, _ := http.NewRequest(http.MethodGet, "http://"+tt.service+"/", nil)
			_, err := c.Do(r)
			var ne *upstream.NoNodesError
			if !errors.As(err, &ne) || ne.Service != tt.service || !errors.Is(err, tt.cause) {
				t.Fatalf("error %v, want *NoNodesError for %s wrapping %v", err, tt.service, tt.cause)
			}
			if status, typ, _ := rpc.StatusOf(err); status != http.StatusServiceUnavailable || typ != problem.TypeNoNodes {
				t.Fatalf("StatusOf = %d %s, want 503 no-nodes", status, typ)
			}
		})
	}
}

// TestDoCallerCancels checks that the caller's cancellation reaches the node,
// is not retried, and maps to 499 rather than to a node failure.
func TestDoCallerCancels(t *testing.T) {
	entered, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	blocking := newBackend(t, "blocking", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(waitTimeout):
		}
	})
	spare := newBackend(t, "spare", nil)
	c := newClient(t, staticOf(t, blocking.node(), spare.node()), upstream.WithStrategy(inOrder))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := get(t, ctx, "/")
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(r)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	recv(t, entered, "the request to reach the node")
	cancel()
	err := recv(t, errc, "Do to return")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if status, _, _ := rpc.StatusOf(err); status != rpc.StatusClientClosed {
		t.Fatalf("StatusOf = %d, want 499", status)
	}
	recv(t, cancelled, "the node's request context to be cancelled")
	if n := len(spare.seen()); n != 0 {
		t.Fatalf("a cancelled call was retried %d times", n)
	}
}

// TestDoFollowsRegistryChanges checks that the client rebuilds its picker
// when the registry's node slice changes, and that round robin through the
// client is exact.
func TestDoFollowsRegistryChanges(t *testing.T) {
	a, b, c3 := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	reg := staticOf(t, a.node())
	c := newClient(t, reg, upstream.WithStrategy(selector.RoundRobin))
	do := func() string {
		t.Helper()
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, resp)
	}
	if got := do(); got != "a" {
		t.Fatalf("answered by %q, want a", got)
	}
	reg.Set(service, []*registry.Node{b.node()})
	for range 3 {
		if got := do(); got != "b" {
			t.Fatalf("after Set: answered by %q, want b", got)
		}
	}
	if err := reg.Register(context.Background(), registry.Registration{Node: *c3.node()}); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for range 6 {
		counts[do()]++
	}
	if counts["b"] != 3 || counts["c"] != 3 {
		t.Fatalf("after Register: %v, want 3 each for b and c", counts)
	}
	if n := len(a.seen()); n != 1 {
		t.Fatalf("removed node a got %d requests, want only the first", n)
	}
}

// TestDoConcurrent runs calls from many goroutines, under -race. With no
// failures every call makes one pick, so round robin spreads them exactly.
func TestDoConcurrent(t *testing.T) {
	const goroutines, calls = 6, 10
	var backends []*backend
	var nodes []*registry.Node
	for _, name := range []string{"a", "b", "c"} {
		b := newBackend(t, name, nil)
		backends = append(backends, b)
		nodes = append(nodes, b.node())
	}
	c := newClient(t, staticOf(t, nodes...), upstream.WithStrategy(selector.RoundRobin))
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				r, _ := http.NewRequest(http.MethodGet, "http://"+service+"/", nil)
				resp, err := c.Do(r)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, b := range backends {
		if n := len(b.seen()); n != goroutines*calls/len(backends) {
			t.Errorf("node %s got %d of %d calls", b.name, n, goroutines*calls)
		}
	}
}
