package upstream_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// connServer is a backend that reports its connections' states.
type connServer struct {
	srv    *httptest.Server
	opened atomic.Int64
	closed chan struct{}
}

func newConnServer(t *testing.T, h http.HandlerFunc) *connServer {
	cs := &connServer{closed: make(chan struct{}, 64)}
	cs.srv = httptest.NewUnstartedServer(h)
	cs.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cs.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			cs.closed <- struct{}{}
		}
	}
	cs.srv.Start()
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *connServer) node(id string) *registry.Node {
	return &registry.Node{Service: service, ID: id, Address: cs.srv.Listener.Addr().String()}
}

func TestConnectionsToDepartedNodesAreClosed(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }
	a, b := newConnServer(t, ok), newConnServer(t, ok)
	reg := staticOf(t, a.node("a"), b.node("b"))
	c := newClient(t, reg, upstream.WithStrategy(inOrder))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp) // a's connection goes back to the pool, idle
	reg.Set(service, []*registry.Node{b.node("b")})
	resp, err = c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	recv(t, a.closed, "the departed node's connection to close")
}

func TestConnectionsPerNodeAreBounded(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 5)
	s := newConnServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = w.Write([]byte("ok"))
	})
	tr := upstream.NewTransportWith(upstream.TransportOptions{MaxConnsPerNode: 2})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, s.node("s")), upstream.WithTransport(tr))
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		wg.Go(func() {
			resp, err := c.Do(get(t, context.Background(), "/"))
			if err == nil {
				readAll(t, resp)
			}
			errs <- err
		})
	}
	// Two requests hold the two connections the bound allows; the others wait.
	recv(t, arrived, "a first request")
	recv(t, arrived, "a second request")
	if n := s.opened.Load(); n != 2 {
		t.Fatalf("%d connections opened to one node, want the bound of 2", n)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a request waiting for a connection failed: %v", err)
		}
	}
	if n := s.opened.Load(); n != 2 {
		t.Fatalf("%d connections in all, want 2 reused", n)
	}
}
