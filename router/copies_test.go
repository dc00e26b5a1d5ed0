package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// TestDefaultRouteRequestCopies counts the *http.Request values that one
// proxied request of the default route (GET pass-through, default
// policies, the lean transport) goes through, from the one the server
// hands the gateway's outer layers to the one the transport sends, looking
// at every point where a layer passes a request on: the outer layers'
// (RequestID's copy, carrying the request's id), the route's (chi's
// routing: no copy), the client's (the router's out-request, aimed at the
// service) and the transport's (the first attempt: no copy), once the
// service has given the answers its per-try timeout is derived from. The
// server's own copy is not counted here: it is the one handed in.
func TestDefaultRouteRequestCopies(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(be.Close)
	reg, err := registry.NewStatic(&registry.Node{Service: "greeter", Address: be.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	var atDo, sent *http.Request
	client := upstream.New(reg, upstream.WithTransport(tr), upstream.WithCallWrapper(func(next upstream.CallFunc) upstream.CallFunc {
		return func(r *http.Request) (*http.Response, error) {
			atDo = r
			resp, err := next(r)
			if resp != nil {
				sent = resp.Request // the request the transport sent
			}
			return resp, err
		}
	}))
	spy := func(seen **http.Request) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				*seen = r
				next.ServeHTTP(w, r)
			})
		}
	}
	var outer, atRoute *http.Request
	rt, err := router.New([]router.Route{{
		Name: "hello", Method: http.MethodGet, Path: "/hello/*", Service: "greeter",
		Budget:     budget.Policy{Timeout: 5 * time.Second, Max: 10 * time.Second},
		Middleware: []func(http.Handler) http.Handler{spy(&atRoute)},
	}}, client, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := middleware.Chain(middleware.AccessLog(nil, nil), middleware.RequestID(nil), spy(&outer))(rt)
	// The service's first answers, before which an attempt runs in a
	// context of its own, watched until the service's latency is known
	// (upstream's coldTry): the copies counted are a running gateway's.
	for range 20 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://gateway/hello/warm", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("warming up: answer %d %q", rec.Code, rec.Body)
		}
	}
	in := httptest.NewRequest(http.MethodGet, "http://gateway/hello/copies", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, in)
	if rec.Code != http.StatusOK || rec.Body.String() != "hello" {
		t.Fatalf("answer %d %q", rec.Code, rec.Body)
	}
	if atRoute != outer {
		t.Error("routing copied the request")
	}
	if sent != atDo {
		t.Error("the first attempt sent a copy of the router's request")
	}
	distinct := map[*http.Request]bool{}
	for _, r := range []*http.Request{in, outer, atRoute, atDo, sent} {
		distinct[r] = true
	}
	if n := len(distinct); n != 3 {
		t.Errorf("%d requests from the server's to the transport's, want 3: the server's, RequestID's, the router's", n)
	}
}
