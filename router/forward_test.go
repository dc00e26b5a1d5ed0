package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
)

func TestHTTPRoutePaths(t *testing.T) {
	be := newBackend(t, nil)
	rt := (&setup{}).node("shop", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/shop/*", Service: "shop", Rewrite: "/api/", Budget: policy},
		router.Route{Method: "GET", Path: "/store/*", Service: "shop", Rewrite: "/api", Budget: policy},
		router.Route{Method: "GET", Path: "/root/*", Service: "shop", Rewrite: "/", Budget: policy},
		router.Route{Method: "*", Path: "/files/*", Service: "shop", Budget: policy},
		router.Route{Method: "GET", Path: "/items/{id}", Service: "shop", Budget: policy},
	)
	tests := []struct {
		target string
		want   string // request URI at the backend
	}{
		{"/shop/items", "/api/items"},
		{"/shop/items?x=1&y=a%20b", "/api/items?x=1&y=a%20b"},
		{"/shop/a/b/c", "/api/a/b/c"},
		{"/store/items?x=1", "/api/items?x=1"},
		{"/store/a/b", "/api/a/b"},
		{"/root/hello/Ada", "/hello/Ada"},
		{"/shop/", "/api/"},
		{"/files/report.pdf?v=2", "/files/report.pdf?v=2"},
		{"/items/42?full=1", "/items/42?full=1"},
		// Escapes reach the backend as the client wrote them.
		{"/files/a%20b", "/files/a%20b"},
		{"/files/a%2Fb", "/files/a%2Fb"},
		{"/files/50%25", "/files/50%25"},
		{"/shop/a%20b", "/api/a%20b"},
		{"/shop/a%2Fb", "/api/a%2Fb"},
		{"/shop/50%25", "/api/50%25"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := serve(rt, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
				t.Fatalf("answer %d %q, want the backend's 200", rec.Code, rec.Body)
			}
			if got := be.last(t); got.RequestURI != tt.want || got.Method != "GET" {
				t.Errorf("backend got %s %s, want GET %s", got.Method, got.RequestURI, tt.want)
			}
		})
	}
}

func TestHTTPRouteStreamsBodyAndAnswer(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Answer", "yes")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "accepted")
	})
	rt := (&setup{}).node("up", be.addr()).build(t,
		router.Route{Method: "*", Path: "/upload/*", Service: "up", Budget: policy})

	req := httptest.NewRequest("PUT", "/upload/x", strings.NewReader("payload"))
	req.Header.Set("Content-Type", "text/plain")
	rec := serve(rt, req)
	if rec.Code != http.StatusAccepted || rec.Body.String() != "accepted" {
		t.Fatalf("answer %d %q, want the backend's 202", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Answer") != "yes" || len(rec.Header().Values("Set-Cookie")) != 2 {
		t.Errorf("answer header %v lost the backend's fields", rec.Header())
	}
	got := be.last(t)
	if got.Method != "PUT" || string(got.Body) != "payload" || got.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("backend got %s %q %v, want the client's PUT", got.Method, got.Body, got.Header)
	}
}

func TestHopByHopFieldsAreNotForwarded(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Backend-Hop")
		h.Set("X-Backend-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Upgrade", "h2c")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-Backend-Kept", "1")
	})
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: policy})

	req := httptest.NewRequest("GET", "/a", nil)
	req.Header.Set("Connection", "keep-alive, X-Client-Hop , x-other-hop")
	req.Header.Set("X-Client-Hop", "1")
	req.Header.Set("X-Other-Hop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("X-Client-Kept", "1")
	rec := serve(rt, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}

	got := be.last(t).Header
	for _, f := range []string{"Connection", "X-Client-Hop", "X-Other-Hop", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization"} {
		if v, ok := got[f]; ok {
			t.Errorf("the backend received hop-by-hop field %s: %q", f, v)
		}
	}
	if got.Get("X-Client-Kept") != "1" {
		t.Errorf("the backend did not receive X-Client-Kept: %v", got)
	}
	for _, f := range []string{"Connection", "X-Backend-Hop", "Keep-Alive", "Upgrade", "Proxy-Authenticate"} {
		if v, ok := rec.Header()[f]; ok {
			t.Errorf("the client received hop-by-hop field %s: %q", f, v)
		}
	}
	if rec.Header().Get("X-Backend-Kept") != "1" {
		t.Errorf("the client did not receive X-Backend-Kept: %v", rec.Header())
	}
}

func TestForwardedFields(t *testing.T) {
	be := newBackend(t, nil)
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: policy},
		router.Route{Method: "GET", Path: "/rpc", Service: "svc", Endpoint: "A.B", Budget: policy})
	tests := []struct {
		name, path string
		prior      []string
		connection string
		wantXFF    string
	}{
		{"HTTP, first proxy", "/a", nil, "", "192.0.2.1"},
		{"HTTP, appended", "/a", []string{"10.0.0.1"}, "", "10.0.0.1, 192.0.2.1"},
		{"HTTP, appended to several lines", "/a", []string{"10.0.0.1, 10.0.0.2", "10.0.0.3"}, "", "10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.1"},
		{"RPC, appended", "/rpc", []string{"10.0.0.1"}, "", "10.0.0.1, 192.0.2.1"},
		// A field Connection names is the client's hop alone, dropped
		// before the gateway's address is appended (as ReverseProxy does).
		{"HTTP, named by Connection", "/a", []string{"10.0.0.1"}, "x-forwarded-for", "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://edge.example"+tt.path, nil) // RemoteAddr 192.0.2.1:1234
			for _, v := range tt.prior {
				req.Header.Add("X-Forwarded-For", v)
			}
			if tt.connection != "" {
				req.Header.Set("Connection", tt.connection)
			}
			if rec := serve(rt, req); rec.Code != http.StatusOK {
				t.Fatalf("answer %d %s", rec.Code, rec.Body)
			}
			got := be.last(t).Header
			if xff := got.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", xff, tt.wantXFF)
			}
			if h := got.Get("X-Forwarded-Host"); h != "edge.example" {
				t.Errorf("X-Forwarded-Host = %q, want edge.example", h)
			}
			if p := got.Get("X-Forwarded-Proto"); p != "http" {
				t.Errorf("X-Forwarded-Proto = %q, want http", p)
			}
		})
	}
}

func TestNoRouteAndWrongMethod(t *testing.T) {
	be := newBackend(t, nil)
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/users/{id}", Service: "svc", Budget: policy},
		router.Route{Method: "PUT", Path: "/users/{name}", Service: "svc", Budget: policy},
		router.Route{Method: "POST", Path: "/orders", Service: "svc", Endpoint: "Orders.Create", Budget: policy})
	tests := []struct {
		method, target string
		status         int
		typ            string
		allow          string
	}{
		{"GET", "/nowhere", http.StatusNotFound, problem.TypeNotFound, ""},
		{"GET", "/users", http.StatusNotFound, problem.TypeNotFound, ""},
		{"GET", "/users/1/more", http.StatusNotFound, problem.TypeNotFound, ""},
		{"DELETE", "/users/1", http.StatusMethodNotAllowed, problem.TypeMethod, "GET, HEAD, PUT"},
		{"DELETE", "/users/a%2Fb", http.StatusMethodNotAllowed, problem.TypeMethod, "GET, HEAD, PUT"},
		{"GET", "/orders", http.StatusMethodNotAllowed, problem.TypeMethod, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			rec := serve(rt, req)
			p := wantProblem(t, rec, tt.status, tt.typ)
			if !strings.Contains(p.Detail, tt.method+" "+req.URL.Path) {
				t.Errorf("detail %q does not name the request", p.Detail)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
	if n := be.hits.Load(); n != 0 {
		t.Errorf("the backend was called %d times", n)
	}
}

// TestNoHostNoForwardedHost: an HTTP/1.0 request may name no host; the
// backend then gets no X-Forwarded-Host, where it got an empty one (a
// backend that builds its links from the field built them host-less).
func TestNoHostNoForwardedHost(t *testing.T) {
	be := newBackend(t, nil)
	rt := (&setup{}).node("svc", be.addr()).build(t, router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: policy})
	req := httptest.NewRequest("GET", "/a", nil)
	req.Proto, req.ProtoMajor, req.ProtoMinor, req.Host = "HTTP/1.0", 1, 0, ""
	if rec := serve(rt, req); rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if h, ok := be.last(t).Header["X-Forwarded-Host"]; ok {
		t.Errorf("X-Forwarded-Host = %q, want none", h)
	}
}
