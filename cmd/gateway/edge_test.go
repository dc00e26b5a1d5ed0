package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/config"
)

const edgeSecretEnv = "SLUICE_GATEWAY_TEST_SECRET"

func edgeConfig(backend, rps string) string {
	return `auth:
  jwt:
    users:
      algorithms: [HS256]
      keys: [{hmac_secret_env: ` + edgeSecretEnv + `}]
      forward_claims: {sub: X-Sluice-Subject}
` + configText(backend, `  - {name: limited, path: /limited, service: svc, rate_limit: {rps: `+rps+`, burst: 1}}
  - {name: authed, path: /authed, service: svc, auth: users}
`)
}

// TestEdgePoliciesAndReload checks that routes get their auth and rate
// limit, that both count in the metrics, and that a reload keeps a route's
// buckets when its limit is unchanged and starts afresh when it changed.
func TestEdgePoliciesAndReload(t *testing.T) {
	secret := strings.Repeat("x", 32)
	t.Setenv(edgeSecretEnv, secret)
	backend := echoBackend(t)
	cfg, path := loadFile(t, edgeConfig(backend, "0.001"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	load := func() (*config.Config, error) { return config.Load(path) }

	if rec := get(h, "/limited"); rec.Code != http.StatusOK {
		t.Fatalf("first /limited = %d", rec.Code)
	}
	if rec := get(h, "/limited"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second /limited = %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := get(h, "/authed"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("/authed without a token = %d", rec.Code)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/authed", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "/authed" {
		t.Fatalf("/authed with a token = %d %q", rec.Code, rec.Body)
	}

	metrics := get(g.adminHandler(), "/metrics").Body.String()
	for _, want := range []string{`sluice_rate_limited_total{route="limited"} 1`,
		`sluice_auth_failures_total{reason="missing",route="authed"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The same file again: the client's bucket is still empty.
	g.reload(load)
	logs.waitFor(t, "configuration reloaded", 1)
	if rec := get(h, "/limited"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("/limited after an unchanged reload = %d, want 429: the bucket was kept", rec.Code)
	}
	// A new rate: new buckets.
	writeFile(t, path, edgeConfig(backend, "0.002"))
	g.reload(load)
	logs.waitFor(t, "configuration reloaded", 2)
	if rec := get(h, "/limited"); rec.Code != http.StatusOK {
		t.Errorf("/limited after the rate changed = %d, want 200: a fresh bucket", rec.Code)
	}
	if len(g.edge.limiters) != 1 {
		t.Errorf("%d limiters kept, want only the serving one", len(g.edge.limiters))
	}
}

// TestClaimHeadersAreStrippedOnEveryRoute: a client cannot send a backend a
// header that the gateway forwards a verified claim into, by any provider:
// not through a route without auth, and not through one whose provider
// forwards other claims. On a route with auth, only the gateway's value
// arrives.
func TestClaimHeadersAreStrippedOnEveryRoute(t *testing.T) {
	secret := strings.Repeat("y", 32)
	t.Setenv(edgeSecretEnv, secret)
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
	}))
	t.Cleanup(srv.Close)
	cfg, _ := loadFile(t, `auth:
  jwt:
    users:
      algorithms: [HS256]
      keys: [{hmac_secret_env: `+edgeSecretEnv+`}]
      forward_claims: {sub: X-Sluice-Subject}
    partners:
      algorithms: [HS256]
      keys: [{hmac_secret_env: `+edgeSecretEnv+`}]
      forward_claims: {email: X-Partner-Email}
`+configText(srv.Listener.Addr().String(), `  - {name: open, path: /open, service: svc}
  - {name: authed, path: /authed, service: svc, auth: users}
`))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	forged := func(path string) *http.Request {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Sluice-Subject", "admin")
		req.Header["X_sluice_subject"] = []string{"admin"}
		req.Header.Set("X-Partner-Email", "root@example.com")
		req.Header.Set("X-Other", "kept")
		return req
	}
	for _, tt := range []struct {
		path, token, subject string
	}{
		{"/open", "", ""},
		{"/authed", tok, "u1"},
	} {
		req := forged(tt.path)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s = %d %s", tt.path, rec.Code, rec.Body)
		}
		var got http.Header
		select {
		case got = <-seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the backend received nothing", tt.path)
		}
		if v := got.Values("X-Sluice-Subject"); tt.subject == "" && len(v) != 0 || tt.subject != "" && (len(v) != 1 || v[0] != tt.subject) {
			t.Errorf("%s: backend got X-Sluice-Subject %q, want %q", tt.path, v, tt.subject)
		}
		for _, f := range []string{"X_sluice_subject", "X-Partner-Email"} {
			if v, ok := got[f]; ok {
				t.Errorf("%s: backend got the client's %s: %q", tt.path, f, v)
			}
		}
		if got.Get("X-Other") != "kept" {
			t.Errorf("%s: an unrelated header was removed", tt.path)
		}
	}
}

// TestRequireClaimsThroughTheGateway: a route that requires a scope serves
// a token holding it, answers 403 insufficient_scope to a valid token of
// the same issuer without it (counted as insufficient_claims), and 401 to
// no token, as any route with auth does.
func TestRequireClaimsThroughTheGateway(t *testing.T) {
	secret := strings.Repeat("y", 32)
	t.Setenv(edgeSecretEnv, secret)
	cfg, _ := loadFile(t, `auth:
  jwt:
    users:
      algorithms: [HS256]
      keys: [{hmac_secret_env: `+edgeSecretEnv+`}]
`+configText(echoBackend(t), `  - {name: admin, path: /admin, service: svc, auth: users, require_claims: {scope: [admin]}}
`))
	g, err := newGateway(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	call := func(scope string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/admin", nil)
		if scope != "-" {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "scope": scope,
				"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := call("read admin"); rec.Code != http.StatusOK {
		t.Errorf("a token with the scope: %d %s", rec.Code, rec.Body)
	}
	rec := call("read")
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("a token without the scope: %d, %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if rec := call("-"); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", rec.Code)
	}
	if got := testutil.ToFloat64(g.edge.authFailures.WithLabelValues("admin", "insufficient_claims")); got != 1 {
		t.Errorf("insufficient_claims counted %v times, want 1", got)
	}
}
