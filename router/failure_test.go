package router_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

func TestUpstreamFailures(t *testing.T) {
	down := closedAddr(t)
	s := (&setup{}).node("down", down)
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/ghost", Service: "ghost", Budget: policy},
		router.Route{Method: "GET", Path: "/ghost-rpc", Service: "ghost", Endpoint: "A.B", Budget: policy},
		router.Route{Method: "GET", Path: "/down", Service: "down", Budget: policy},
		router.Route{Method: "POST", Path: "/down-rpc", Service: "down", Endpoint: "A.B", Budget: policy},
	)
	// The cause is the gateway's log's, not the client's: no detail names
	// the service's nodes or the transport's error (rpc.WriteError).
	tests := []struct {
		method, path string
		status       int
		typ          string
		untold       string
	}{
		{"GET", "/ghost", http.StatusServiceUnavailable, problem.TypeNoNodes, "ghost"},
		{"GET", "/ghost-rpc", http.StatusServiceUnavailable, problem.TypeNoNodes, "ghost"},
		{"GET", "/down", http.StatusBadGateway, problem.TypeNotProcessed, down},
		{"POST", "/down-rpc", http.StatusBadGateway, problem.TypeNotProcessed, down},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := wantProblem(t, serve(rt, httptest.NewRequest(tt.method, tt.path, strings.NewReader("{}"))), tt.status, tt.typ)
			if strings.Contains(p.Detail, tt.untold) || strings.Contains(p.Detail, "upstream:") {
				t.Errorf("detail %q tells the client the cause (%q)", p.Detail, tt.untold)
			}
		})
	}
}

// hangingBackend answers nothing until its request's context ends, then
// reports that on cancelled. Its handler also ends when the test does, so
// that closing the server never waits on it.
func hangingBackend(t *testing.T) (b *backend, arrived <-chan struct{}, cancelled <-chan error) {
	t.Helper()
	arr := make(chan struct{}, 1)
	canc := make(chan error, 1)
	testDone := make(chan struct{})
	b = newBackend(t, func(_ http.ResponseWriter, r *http.Request) {
		arr <- struct{}{}
		select {
		case <-r.Context().Done():
			canc <- r.Context().Err()
		case <-testDone:
		}
	})
	t.Cleanup(func() { close(testDone) }) // runs before the server's Close
	return b, arr, canc
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("gave up after %v waiting for %s", waitLimit, what)
		var zero T
		return zero
	}
}

// TestBudgetRunsOutOnAHangingBackend needs a real deadline to pass. The
// budget is large enough for the request to reach the backend first on any
// machine, and nothing is asserted about how long anything took.
func TestBudgetRunsOutOnAHangingBackend(t *testing.T) {
	for _, rpcRoute := range []bool{false, true} {
		name := "HTTP"
		if rpcRoute {
			name = "RPC"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			be, arrived, cancelled := hangingBackend(t)
			route := router.Route{Method: "GET", Path: "/slow", Service: "slow",
				Budget: budget.Policy{Timeout: 2 * time.Second}}
			if rpcRoute {
				route.Endpoint = "Slow.Call"
			}
			rt := (&setup{}).node("slow", be.addr()).build(t, route)

			done := make(chan *httptest.ResponseRecorder, 1)
			go func() { done <- serve(rt, httptest.NewRequest("GET", "/slow", nil)) }()
			waitFor(t, arrived, "the request to reach the backend")
			rec := waitFor(t, done, "the gateway to answer")
			wantProblem(t, rec, http.StatusGatewayTimeout, problem.TypeBudgetSpent)
			if err := waitFor(t, cancelled, "the backend's request context to end"); err == nil {
				t.Error("the backend's context ended without an error")
			}
			if n := be.hits.Load(); n != 1 {
				t.Errorf("the backend was called %d times; a spent budget must not be retried", n)
			}
		})
	}
}

// TestClientDisconnectCancelsUpstream serves the router on a real listener:
// a client that gives up closes its connection, and the backend's request
// context must end with it.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	be, arrived, cancelled := hangingBackend(t)
	rt := (&setup{}).node("slow", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/slow", Service: "slow", Budget: budget.Policy{Timeout: time.Hour}},
		router.Route{Method: "POST", Path: "/slow-rpc", Service: "slow", Endpoint: "Slow.Call", Budget: budget.Policy{Timeout: time.Hour}})
	front := httptest.NewServer(rt)
	t.Cleanup(front.Close)

	for _, tt := range []struct{ method, path string }{{"GET", "/slow"}, {"POST", "/slow-rpc"}} {
		t.Run(tt.path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, tt.method, front.URL+tt.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				resp, err := front.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			waitFor(t, arrived, "the request to reach the backend")
			cancel()
			if err := waitFor(t, errc, "the client to give up"); !errors.Is(err, context.Canceled) {
				t.Errorf("client error = %v, want context.Canceled", err)
			}
			if err := waitFor(t, cancelled, "the backend's request context to end"); !errors.Is(err, context.Canceled) {
				t.Errorf("backend context error = %v, want context.Canceled", err)
			}
		})
	}
}

// TestInboundCancellationCancelsUpstream cancels the inbound request's
// context directly, as the server does when its client goes away, and checks
// the answer the router leaves behind.
func TestInboundCancellationCancelsUpstream(t *testing.T) {
	be, arrived, cancelled := hangingBackend(t)
	rt := (&setup{}).node("slow", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/slow", Service: "slow", Budget: budget.Policy{Timeout: time.Hour}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- serve(rt, httptest.NewRequest("GET", "/slow", nil).WithContext(ctx)) }()
	waitFor(t, arrived, "the request to reach the backend")
	cancel()
	waitFor(t, cancelled, "the backend's request context to end")
	rec := waitFor(t, done, "the router to return")
	if rec.Code != 499 {
		t.Errorf("status %d, want 499 for the access log", rec.Code)
	}
	if n := be.hits.Load(); n != 1 {
		t.Errorf("the backend was called %d times; a cancelled call must not be retried", n)
	}
}

// A route marked idempotent lets the client retry a POST that a node failed
// after receiving it, its body held for the retry; an unmarked one answers
// with that failure; a PUT is idempotent by its method.
func TestIdempotentRouteRetriesAfterSending(t *testing.T) {
	for _, tt := range []struct {
		name, method string
		idempotent   bool
		retried      bool
	}{
		{"POST unmarked", "POST", false, false},
		{"POST idempotent", "POST", true, true},
		{"PUT unmarked", "PUT", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			failFirst := func(w http.ResponseWriter, _ *http.Request) {
				if hits.Add(1) == 1 {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				_, _ = w.Write([]byte("ok"))
			}
			a, b := newBackend(t, failFirst), newBackend(t, failFirst)
			s := (&setup{opts: router.Options{MarkIdempotent: upstream.WithIdempotent}}).
				node("pay", a.addr()).node("pay", b.addr())
			rt := s.build(t, router.Route{Method: tt.method, Path: "/pay", Service: "pay", Budget: policy, Idempotent: tt.idempotent})
			rec := serve(rt, httptest.NewRequest(tt.method, "/pay", strings.NewReader(`{"amount":1}`)))
			want, wantHits := http.StatusServiceUnavailable, int32(1)
			if tt.retried {
				want, wantHits = http.StatusOK, 2
			}
			if rec.Code != want || hits.Load() != wantHits {
				t.Fatalf("status %d after %d attempts, want %d after %d", rec.Code, hits.Load(), want, wantHits)
			}
			for range wantHits { // every attempt carried the whole body
				var c captured
				select {
				case c = <-a.got:
				case c = <-b.got:
				}
				if string(c.Body) != `{"amount":1}` {
					t.Fatalf("an attempt carried the body %q", c.Body)
				}
			}
		})
	}
}

// TestFailureLogsAreSampled: a service with no node fails every request
// alike; the router logs the first LogLinesPerSecond of them a second and
// drops the rest (the metrics count them), route by route, so that a
// fault on every request cannot flood the log. internal/logsample's tests
// hold the count of dropped lines that the next logged one reports.
func TestFailureLogsAreSampled(t *testing.T) {
	var logs bytes.Buffer // the router logs in the goroutine that serves, this one
	s := &setup{opts: router.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}}
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/ghost", Service: "ghost", Budget: policy},
		router.Route{Method: "GET", Path: "/phantom", Service: "phantom", Budget: policy},
	)
	const n = 200
	start := time.Now()
	for range n {
		wantProblem(t, serve(rt, httptest.NewRequest("GET", "/ghost", nil)), http.StatusServiceUnavailable, problem.TypeNoNodes)
	}
	wantProblem(t, serve(rt, httptest.NewRequest("GET", "/phantom", nil)), http.StatusServiceUnavailable, problem.TypeNoNodes)
	windows := int(time.Since(start)/time.Second) + 1
	var ghost, phantom int
	for line := range strings.Lines(logs.String()) {
		if !strings.Contains(line, `"msg":"upstream call failed"`) {
			continue
		}
		switch {
		case strings.Contains(line, `"service":"ghost"`):
			ghost++
		case strings.Contains(line, `"service":"phantom"`):
			phantom++
		}
	}
	if ghost < router.LogLinesPerSecond || ghost > windows*router.LogLinesPerSecond {
		t.Errorf("%d lines for %d failures in %d second(s), want %d to %d", ghost, n, windows,
			router.LogLinesPerSecond, windows*router.LogLinesPerSecond)
	}
	if phantom != 1 {
		t.Errorf("%d lines for the other route's one failure, want 1", phantom)
	}
}

// TestDocsStateLogLinesPerSecond: docs/observability.md states the rate at
// which failure lines are logged, which the code sets.
func TestDocsStateLogLinesPerSecond(t *testing.T) {
	doc, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("it logs the first %d lines a second of each route", router.LogLinesPerSecond)
	if !strings.Contains(strings.Join(strings.Fields(string(doc)), " "), want) {
		t.Errorf("docs/observability.md does not say %q", want)
	}
}
