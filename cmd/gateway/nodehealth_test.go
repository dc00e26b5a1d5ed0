package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// checkedBackend is a backend whose /healthz answers 200 or 503 as the test
// says, while its API answers 200 either way (a node up but broken), and
// which counts the API requests it serves.
type checkedBackend struct {
	addr     string
	failing  atomic.Bool
	requests atomic.Int64
}

func newCheckedBackend(t *testing.T) *checkedBackend {
	t.Helper()
	b := &checkedBackend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if b.failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		b.requests.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	b.addr = srv.Listener.Addr().String()
	return b
}

// TestANodeFailingItsHealthCheckGetsNoRequestsUntilItPasses: of three
// nodes, the one whose /healthz answers 503 while its API still answers
// gets no request once the checks have taken it out; when all three fail,
// all three are served; when the failing one recovers, it is served again.
// Without the check, the broken node kept its third of the requests.
func TestANodeFailingItsHealthCheckGetsNoRequestsUntilItPasses(t *testing.T) {
	bs := []*checkedBackend{newCheckedBackend(t), newCheckedBackend(t), newCheckedBackend(t)}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	text := `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
registry:
  static:
`
	for _, b := range bs {
		text += fmt.Sprintf("    - {service: svc, address: %q}\n", b.addr)
	}
	text += `services:
  svc:
    health_check: {path: /healthz, interval: 20ms}
routes:
  - {path: /api, service: svc}
`
	writeFile(t, path, text)
	g := runGateway(t, "-config", path)
	send := func(n int) {
		t.Helper()
		for _, b := range bs {
			b.requests.Store(0)
		}
		for range n {
			if code, body := g.fetch(g.front + "/api"); code != 200 {
				t.Fatalf("GET /api: %d %q", code, body)
			}
		}
	}

	bs[2].failing.Store(true)
	left := g.logs.waitFor(t, "a node fails its health check; it serves no more requests until it passes", 1)
	if left[0]["node"] != bs[2].addr {
		t.Fatalf("logged %v, want the node at %s", left[0], bs[2].addr)
	}
	send(60)
	if n := bs[2].requests.Load(); n != 0 {
		t.Fatalf("the node failing its health check got %d of 60 requests", n)
	}
	if v := g.metric(`sluice_health_check_healthy_nodes{service="svc"}`); v != "2" {
		t.Errorf("sluice_health_check_healthy_nodes = %q, want 2", v)
	}

	bs[0].failing.Store(true)
	bs[1].failing.Store(true)
	g.logs.waitFor(t, "every node of a service fails its health check; all of them serve", 1)
	send(60)
	for i, b := range bs {
		if b.requests.Load() == 0 {
			t.Fatalf("with every node failing, node %d got none of 60 requests", i)
		}
	}

	bs[2].failing.Store(false)
	back := g.logs.waitFor(t, "a node passes its health check again; it serves", 1)
	if back[0]["node"] != bs[2].addr {
		t.Fatalf("logged %v, want the node at %s", back[0], bs[2].addr)
	}
	g.logs.waitFor(t, "a node of a service passes its health check again; the failing ones serve no more", 1)
	send(20)
	if n := bs[2].requests.Load(); n != 20 {
		t.Fatalf("the recovered node got %d of 20 requests, the failing ones the rest", n)
	}
}

// TestAProbeWhoseAnswerStallsOrIsCutOffFails: a node that sends "200 OK"
// and then stalls its body past the timeout, or ends its connection in the
// middle of it, gave no answer within the timeout: its probe fails. Both
// passed, the body's error unread.
func TestAProbeWhoseAnswerStallsOrIsCutOffFails(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "ok")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/cut" {
			panic(http.ErrAbortHandler) // the connection ends, 98 bytes short
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	n := &registry.Node{Service: "s", Address: srv.Listener.Addr().String()}
	for _, path := range []string{"/stall", "/cut"} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := newProber(nil).probe(ctx, n, path)
		cancel()
		if err == nil {
			t.Errorf("%s: the probe passed", path)
		}
	}
}
