package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/internal/proxytest"
)

// corsBackend answers every request with its method and path, sets
// CORS fields of its own (which the edge must not let through where it owns
// CORS) and counts what it saw.
func corsBackend(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "https://backend.invalid")
		w.Header().Set("Vary", "Accept-Encoding")
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &hits
}

const corsRoutes = `  - name: items
    path: /items/{id}
    service: svc
    auth: users
    rate_limit: {rps: 0.001, burst: 1}
    cors:
      origins: ["https://app.example.com", "https://*.example.org"]
      headers: [Authorization, Content-Type]
      expose_headers: [X-Request-Id]
      credentials: true
      max_age: 10m
  - {name: create, method: POST, path: "/items/{key}", service: svc, cors: {origins: ["*"]}}
  - {name: options, method: OPTIONS, path: /things, service: svc}
  - {name: things, path: /things, service: svc, cors: {origins: ["https://app.example.com"]}}
  - {name: any, method: "*", path: /any, service: svc, cors: {origins: ["https://app.example.com"]}}
  - {name: plain, path: /plain, service: svc}
`

func preflight(h http.Handler, path, origin, method, headers string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodOptions, path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestCORSPreflightsAnsweredAtTheEdge checks that preflights, allowed or
// refused, are answered by the gateway without a token, without using the
// rate limit and without the backend seeing them, each by the policy of the
// route of the method it asks about.
func TestCORSPreflightsAnsweredAtTheEdge(t *testing.T) {
	t.Setenv(edgeSecretEnv, strings.Repeat("x", 32))
	backend, hits := corsBackend(t)
	cfg, _ := loadFile(t, edgeConfig(backend, "1")+corsRoutes)
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()

	type want struct {
		status                                        int
		origin, methods, headers, credentials, maxAge string
	}
	tests := []struct {
		name                          string
		path, origin, method, headers string
		want                          want
	}{
		{"allowed, with credentials", "/items/1", "https://app.example.com", "GET", "authorization",
			want{204, "https://app.example.com", "GET", "authorization", "true", "600"}},
		{"wildcard subdomain", "/items/1", "https://eu.example.org", "HEAD", "",
			want{204, "https://eu.example.org", "HEAD", "", "true", "600"}},
		{"other route of the path", "/items/1", "https://elsewhere.example", "POST", "content-type",
			want{204, "*", "POST", "content-type", "", ""}},
		{"origin refused", "/items/1", "https://evil.example", "GET", "", want{status: 204}},
		{"subdomain wildcard is not a suffix match", "/items/1", "https://example.org", "GET", "", want{status: 204}},
		{"method no route of the path has", "/items/1", "https://app.example.com", "PUT", "", want{status: 204}},
		{"header refused", "/items/1", "https://app.example.com", "GET", "x-other", want{status: 204}},
		{"path with an OPTIONS route", "/things", "https://app.example.com", "GET", "",
			want{204, "https://app.example.com", "GET", "", "", ""}},
		{"OPTIONS route has no cors", "/things", "https://app.example.com", "OPTIONS", "", want{status: 204}},
		{"any-method route", "/any", "https://app.example.com", "PATCH", "",
			want{204, "https://app.example.com", "PATCH", "", "", ""}},
	}
	for _, tt := range tests {
		rec := preflight(h, tt.path, tt.origin, tt.method, tt.headers)
		hd := rec.Header()
		got := want{rec.Code, hd.Get("Access-Control-Allow-Origin"), hd.Get("Access-Control-Allow-Methods"),
			hd.Get("Access-Control-Allow-Headers"), hd.Get("Access-Control-Allow-Credentials"), hd.Get("Access-Control-Max-Age")}
		if got != tt.want {
			t.Errorf("%s: preflight answered %+v, want %+v", tt.name, got, tt.want)
		}
		if !strings.Contains(hd.Get("Vary"), "Origin") {
			t.Errorf("%s: Vary %q lacks Origin", tt.name, hd.Get("Vary"))
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("%s: the backend saw %d requests; preflights must be answered at the edge", tt.name, n)
		}
	}

	// An OPTIONS request that is no preflight goes where it went before:
	// to the OPTIONS route, or to 405 where there is none.
	if rec := httptest.NewRecorder(); true {
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodOptions, "/things", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != "OPTIONS /things" || hits.Load() != 1 {
			t.Errorf("plain OPTIONS /things = %d %q (backend hits %d), want the OPTIONS route's answer", rec.Code, rec.Body, hits.Load())
		}
	}
	if rec := httptest.NewRecorder(); true {
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodOptions, "/items/1", nil))
		if rec.Code != http.StatusMethodNotAllowed || hits.Load() != 1 {
			t.Errorf("plain OPTIONS /items/1 = %d (backend hits %d), want 405 at the edge", rec.Code, hits.Load())
		}
	}

	// No preflight used the route's rate limit (burst 1): the first actual
	// request passes, the second is limited.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(strings.Repeat("x", 32)))
	if err != nil {
		t.Fatal(err)
	}
	actual := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/items/1", nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := actual()
	if rec.Code != http.StatusOK || rec.Body.String() != "GET /items/1" {
		t.Fatalf("actual GET = %d %q, want the backend's answer", rec.Code, rec.Body)
	}
	hd := rec.Header()
	if got := hd.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("actual GET: Access-Control-Allow-Origin %q, want the edge's (the backend's dropped)", got)
	}
	if hd.Get("Access-Control-Allow-Credentials") != "true" || hd.Get("Access-Control-Expose-Headers") != "X-Request-Id" {
		t.Errorf("actual GET: credentials %q, expose %q", hd.Get("Access-Control-Allow-Credentials"), hd.Get("Access-Control-Expose-Headers"))
	}
	if vary := strings.Join(hd.Values("Vary"), ", "); !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept-Encoding") {
		t.Errorf("actual GET: Vary %q, want Origin and the backend's Accept-Encoding", vary)
	}
	if hd.Get("Access-Control-Max-Age") != "" || hd.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("actual GET carries preflight fields: %v", hd)
	}
	if rec := actual(); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("second actual GET = %d, Access-Control-Allow-Origin %q; want 429 that the page can read",
			rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}

	// A refusal at the edge carries the CORS fields, so the page can read it.
	req := httptest.NewRequest(http.MethodGet, "/items/2", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusTooManyRequests || rec.Header().Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("GET without a token = %d, Access-Control-Allow-Origin %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

// TestCORSRouteWithoutCORSUnaffected checks that a route without cors
// answers as before: no CORS field is added, the backend's pass, and an
// OPTIONS preflight on its path is 405 (no OPTIONS route).
func TestCORSRouteWithoutCORSUnaffected(t *testing.T) {
	t.Setenv(edgeSecretEnv, strings.Repeat("x", 32))
	backend, hits := corsBackend(t)
	cfg, _ := loadFile(t, edgeConfig(backend, "1")+corsRoutes)
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	req := httptest.NewRequest(http.MethodGet, "/plain", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "https://backend.invalid" ||
		rec.Header().Get("Vary") != "Accept-Encoding" {
		t.Errorf("GET /plain = %d, header %v; want the backend's own fields only", rec.Code, rec.Header())
	}
	if rec := preflight(h, "/plain", "https://app.example.com", "GET", ""); rec.Code != http.StatusMethodNotAllowed ||
		rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight /plain = %d, header %v; want 405 as without CORS", rec.Code, rec.Header())
	}
	if hits.Load() != 1 {
		t.Errorf("backend hits %d, want 1", hits.Load())
	}
}

// TestCORSOverBothServers sends a preflight and an actual request over a
// real connection to each listener server: the preflight is answered
// without the backend, the actual request reaches it with the CORS fields.
func TestCORSOverBothServers(t *testing.T) {
	t.Setenv(edgeSecretEnv, strings.Repeat("x", 32))
	for _, kind := range listenerKinds {
		backend, hits := corsBackend(t)
		cfg, _ := loadFile(t, edgeConfig(backend, "1")+corsRoutes)
		logger, _ := newLogger()
		_, addr := startGateway(t, cfg, logger, kind)
		send := func(method string, hdr map[string]string) *http.Response {
			req, err := http.NewRequest(method, "http://"+addr+"/things", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		resp := send(http.MethodOptions, map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || hits.Load() != 0 {
			t.Errorf("%s: preflight = %d %v, backend hits %d", kind, resp.StatusCode, resp.Header, hits.Load())
		}
		resp = send(http.MethodGet, map[string]string{"Origin": "https://app.example.com"})
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || hits.Load() != 1 {
			t.Errorf("%s: actual GET = %d %v, backend hits %d", kind, resp.StatusCode, resp.Header, hits.Load())
		}
	}
}

// TestCORSRouteOwnsTheAllowFields checks that on a route with a CORS
// policy only the edge's Access-Control-* answer fields reach the client,
// over each listener server and HTTP/2: a backend that echoes any Origin
// with credentials (a common misconfiguration of a framework's own CORS)
// would otherwise let a page of an origin the route refuses read a user's
// answers, and give credentials to an origin the route allows without
// them. A route without CORS passes the backend's fields as they are.
func TestCORSRouteOwnsTheAllowFields(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "X-Secret")
		h.Set("Access-Control-Allow-Methods", "DELETE")
		h.Set("Access-Control-Max-Age", "86400")
		h.Set("X-Secret", "s")
	}))
	t.Cleanup(srv.Close)
	node := srv.Listener.Addr().String()
	fields := []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Max-Age"}
	get := func(edge proxytest.Edge, origin string) http.Header {
		header := http.Header{}
		if origin != "" {
			header.Set("Origin", origin)
		}
		resp, _ := edge.Do(t, http.MethodGet, header)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Secret") != "s" {
			t.Fatalf("%s: GET from %q = %d %v", edge.Name, origin, resp.StatusCode, resp.Header)
		}
		return resp.Header
	}
	for _, edge := range proxytest.Edges(t, gatewayOf(t, node, "  - {path: /t, service: svc, cors: {origins: [\"https://app.example.com\"]}}\n")) {
		for _, origin := range []string{"https://evil.example", "https://app.example.com", ""} {
			want := map[string]string{}
			if origin == "https://app.example.com" {
				want["Access-Control-Allow-Origin"] = origin // and no credentials, none exposed
			}
			h := get(edge, origin)
			for _, k := range fields {
				if got := h.Values(k); len(got) > 1 || h.Get(k) != want[k] || (want[k] == "" && got != nil) {
					t.Errorf("%s: GET from %q: %s %q, want %q (the edge's)", edge.Name, origin, k, got, want[k])
				}
			}
		}
	}
	for _, edge := range proxytest.Edges(t, gatewayOf(t, node, "  - {path: /t, service: svc}\n")) {
		if h := get(edge, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "https://evil.example" ||
			h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s: GET without CORS: %v, want the backend's CORS fields, the route having no policy", edge.Name, h)
		}
	}
}
