package router_test

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// The benchmarks below price the gateway's side of one proxied request, layer
// by layer, with allocations: bench/README.md reads them together with the
// load test. Each runs the same request through the router:
//
//   - doer: the router alone (route match, budget origination, header
//     rewriting, copying the answer) over a Doer that returns a canned answer;
//   - client: the router and a real upstream.Client (discovery cache, pick,
//     budget field, classification) over a transport that returns a canned
//     answer;
//   - loopback: the same over the client's default transport (h1) to a real
//     server on loopback, and loopback-http.Transport over net/http's; the
//     backend's server half runs in the same process and is counted too;
//   - loopback-edge: loopback with what the gateway puts in front of the
//     router on every request: a request context the server cancels (and the
//     request copy that carries it), the Recorder and the request id.

// benchWriter is a ResponseWriter that keeps nothing, reusing its header.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *benchWriter) reset() {
	clear(w.h)
	w.status = 0
}

// cannedBody is the answer every canned transport gives.
const cannedBody = `{"message":"Hello, bench!"}`

// cannedResponse returns a fresh answer of the size the greeter gives.
func cannedResponse(r *http.Request) *http.Response {
	return &http.Response{
		StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1, Request: r, ContentLength: int64(len(cannedBody)),
		Header: http.Header{"Content-Type": {"application/json"}, "Date": {"Thu, 26 Nov 2026 12:00:00 GMT"}},
		Body:   io.NopCloser(bytes.NewReader([]byte(cannedBody))),
	}
}

type cannedDoer struct{}

func (cannedDoer) Do(r *http.Request) (*http.Response, error) { return cannedResponse(r), nil }

type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return cannedResponse(r), nil
}

// benchRoutes is a route table of realistic size: the route benchmarked and
// n-1 others, so that matching is not trivially short.
func benchRoutes(n int) []router.Route {
	pol := budget.Policy{Timeout: 5 * time.Second, Max: 10 * time.Second, Min: 5 * time.Millisecond}
	routes := []router.Route{{Name: "hello", Method: http.MethodGet, Path: "/hello/*", Service: "greeter", Budget: pol}}
	for i := 1; i < n; i++ {
		routes = append(routes, router.Route{
			Name: fmt.Sprintf("r%d", i), Method: http.MethodGet, Service: "greeter",
			Path: fmt.Sprintf("/api/v1/things%d/{id}/parts/*", i), Budget: pol,
		})
	}
	return routes
}

func runProxyBench(b *testing.B, d router.Doer) {
	runProxyBenchWith(b, d, false)
}

// runProxyBenchWith runs the benchmark's request through the router, and
// with edge through the gateway's outer layers too, as its server calls
// them: under a context of its own that ends when the handler returns, a
// lean one as package server makes.
func runProxyBenchWith(b *testing.B, d router.Doer, edge bool) {
	rt, err := router.New(benchRoutes(50), d, router.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var h http.Handler = rt
	if edge {
		inner := middleware.Chain(middleware.AccessLog(nil, nil), middleware.RequestID(nil))(rt)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := leanctx.WithCancel(r.Context()) // as package server's
			inner.ServeHTTP(w, r.WithContext(ctx))
			ctx.Cancel()
		})
	}
	r := httptest.NewRequest(http.MethodGet, "http://gateway/hello/bench", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("User-Agent", "wrk")
	r.Header.Set("Accept", "application/json")
	client := r.Header.Clone()
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		resetHeader(r, client)
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// resetHeader gives r back the client's fields, in r's own map, before a
// benchmark serves it again: a forward edits r's header into the forwarded
// request's (the budget sent, X-Forwarded-For), as the request id does.
func resetHeader(r *http.Request, client http.Header) {
	clear(r.Header)
	maps.Copy(r.Header, client)
}

func benchClient(b *testing.B, addr string, tr http.RoundTripper) *upstream.Client {
	reg, err := registry.NewStatic(&registry.Node{Service: "greeter", Address: addr})
	if err != nil {
		b.Fatal(err)
	}
	return upstream.New(reg, upstream.WithTransport(tr))
}

func BenchmarkProxiedRequest(b *testing.B) {
	b.Run("doer", func(b *testing.B) { runProxyBench(b, cannedDoer{}) })
	b.Run("client", func(b *testing.B) {
		runProxyBench(b, benchClient(b, "127.0.0.1:1", cannedTransport{}))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, cannedBody)
	}))
	defer srv.Close()
	b.Run("loopback", func(b *testing.B) {
		tr := upstream.NewLeanTransport(upstream.TransportOptions{})
		defer tr.CloseIdleConnections()
		runProxyBench(b, benchClient(b, srv.Listener.Addr().String(), tr))
	})
	b.Run("loopback-edge", func(b *testing.B) {
		tr := upstream.NewLeanTransport(upstream.TransportOptions{})
		defer tr.CloseIdleConnections()
		runProxyBenchWith(b, benchClient(b, srv.Listener.Addr().String(), tr), true)
	})
	b.Run("loopback-http.Transport", func(b *testing.B) {
		tr := upstream.NewTransport()
		defer tr.CloseIdleConnections()
		runProxyBench(b, benchClient(b, srv.Listener.Addr().String(), tr))
	})
}

// BenchmarkRouteMatch prices finding the route among 50 and originating the
// budget, with an answer that does nothing.
func BenchmarkRouteMatch(b *testing.B) {
	rt, err := router.New(benchRoutes(50), nopDoer{}, router.Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://gateway/api/v1/things42/7/parts/a/b", nil)
	client := r.Header.Clone()
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		resetHeader(r, client)
		rt.ServeHTTP(w, r)
	}
	if w.status != http.StatusNoContent {
		b.Fatalf("status %d", w.status)
	}
}

type nopDoer struct{}

var nopResponse = &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{}, Body: http.NoBody}

func (nopDoer) Do(*http.Request) (*http.Response, error) { return nopResponse, nil }
