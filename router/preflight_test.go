package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/router"
)

// answers returns a Preflight handler that answers with its name.
func answers(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		w.Header().Set("X-Answered-By", name) // after WriteHeader: not sent
		_, _ = io.WriteString(w, name)
	})
}

// TestPreflightGoesToTheRouteItAsksAbout checks that the router sends each
// preflight to the Preflight of the route of its requested method, on the
// path shape of that route, refuses the others at the edge, and forwards no
// preflight at all on such a path.
func TestPreflightGoesToTheRouteItAsksAbout(t *testing.T) {
	b := newBackend(t, nil)
	s := (&setup{}).node("svc", b.addr())
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/items/{id}", Service: "svc", Budget: policy, Preflight: answers("get")},
		router.Route{Method: "POST", Path: "/items/{key}", Service: "svc", Budget: policy, Preflight: answers("post")},
		router.Route{Method: "DELETE", Path: "/items/{id}", Service: "svc", Budget: policy},
		router.Route{Method: "HEAD", Path: "/docs", Service: "svc", Budget: policy},
		router.Route{Method: "GET", Path: "/docs", Service: "svc", Budget: policy, Preflight: answers("docs")},
		router.Route{Method: "OPTIONS", Path: "/docs", Service: "svc", Budget: policy},
		router.Route{Method: "*", Path: "/any/*", Service: "svc", Budget: policy, Preflight: answers("any")},
		router.Route{Method: "GET", Path: "/plain", Service: "svc", Budget: policy},
	)
	tests := []struct {
		path, method string
		status       int
		body         string
	}{
		{"/items/1", "GET", 204, "get"},
		{"/items/1", "HEAD", 204, "get"}, // a GET route answers HEAD
		{"/items/1", "POST", 204, "post"},
		{"/items/1", "DELETE", 204, ""}, // its route has no CORS: refused
		{"/items/1", "PUT", 204, ""},    // no route: refused
		{"/docs", "GET", 204, "docs"},
		{"/docs", "HEAD", 204, ""}, // the HEAD route has no CORS
		{"/docs", "OPTIONS", 204, ""},
		{"/any/x/y", "PATCH", 204, "any"},
		{"/plain", "GET", 405, ""}, // no CORS on the path: as before
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodOptions, tt.path, nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", tt.method)
		rec := serve(rt, req)
		body := rec.Body.String()
		if tt.status == 405 {
			body = ""
		}
		if rec.Code != tt.status || body != tt.body {
			t.Errorf("preflight %s for %s = %d %q, want %d %q", tt.path, tt.method, rec.Code, body, tt.status, tt.body)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("the backend saw %d requests; no preflight may be forwarded", n)
	}
	// Without Origin, an OPTIONS request is no preflight: the OPTIONS
	// route serves it.
	req := httptest.NewRequest(http.MethodOptions, "/docs", nil)
	req.Header.Set("Access-Control-Request-Method", "GET")
	if rec := serve(rt, req); rec.Code != http.StatusOK || b.hits.Load() != 1 {
		t.Errorf("OPTIONS /docs without Origin = %d, backend hits %d; want the OPTIONS route", rec.Code, b.hits.Load())
	}
}
