package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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
