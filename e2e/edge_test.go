package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const edgeSecretEnv = "SLUICE_E2E_JWT_SECRET"

// edgeConfig puts auth on both routes, and a per-subject rate limit of 3
// requests (a bucket that takes 1000 s to refill a token) on the greeter's.
const edgeConfig = `
listeners:
  - address: 127.0.0.1:0
auth:
  jwt:
    users:
      issuer: sluice-e2e
      audiences: [api]
      algorithms: [HS256]
      keys:
        - {id: k1, hmac_secret_env: ` + edgeSecretEnv + `}
      forward_claims: {sub: X-Sluice-Subject}
registry:
  kind: static
  static:
    - {service: greeter, address: %s}
    - {service: echo, address: %s}
routes:
  - name: greet
    method: GET
    path: /greet/{name}
    service: greeter
    endpoint: Greeter.Hello
    auth: users
    rate_limit: {rps: 0.001, burst: 3, key: subject}
  - name: echo
    method: GET
    path: /echo/*
    service: echo
    auth: users
`

// headerRecorder is a backend that remembers the header of every request.
type headerRecorder struct {
	mu   sync.Mutex
	seen []http.Header
}

func (b *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.seen = append(b.seen, r.Header.Clone())
	b.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (b *headerRecorder) requests() []http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]http.Header(nil), b.seen...)
}

func TestEdgePolicies(t *testing.T) {
	secret := strings.Repeat("e2e-secret-", 4)
	t.Setenv(edgeSecretEnv, secret) // the gateway inherits the environment
	greeter := start(t, "greeter", "-listen", "127.0.0.1:0").addr(0)
	echo := &headerRecorder{}
	srv := httptest.NewServer(echo)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, file, fmt.Sprintf(edgeConfig, greeter, srv.Listener.Addr()))
	gw := "http://" + start(t, "gateway", "-config", file).addr(0)

	token := func(sub string, key string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "iss": "sluice-e2e", "aud": "api",
			"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}

	t.Run("a valid token reaches the backend as a subject, without the token", func(t *testing.T) {
		r := get(t, gw+"/echo/x", "Authorization", token("alice", secret), "X-Sluice-Subject", "admin")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		seen := echo.requests()
		if len(seen) != 1 {
			t.Fatalf("the backend got %d requests, want 1", len(seen))
		}
		if got := seen[0]["X-Sluice-Subject"]; len(got) != 1 || got[0] != "alice" {
			t.Errorf("the backend saw X-Sluice-Subject %q, want [alice]", got)
		}
		if got := seen[0].Get("Authorization"); got != "" {
			t.Errorf("the backend saw Authorization %q", got)
		}
	})

	t.Run("a bad token gets 401 and never reaches the backend", func(t *testing.T) {
		before := len(echo.requests())
		for _, auth := range []string{"", "Bearer nonsense", token("mallory", strings.Repeat("wrong-key-", 4))} {
			r := get(t, gw+"/echo/x", "Authorization", auth)
			r.wantProblem(t, http.StatusUnauthorized, "urn:sluice:problem:unauthorized")
			if c := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer realm="sluice"`) {
				t.Errorf("WWW-Authenticate %q", c)
			}
			if auth != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q lacks the error code", r.header.Get("WWW-Authenticate"))
			}
		}
		if after := len(echo.requests()); after != before {
			t.Errorf("the backend got %d requests with bad tokens", after-before)
		}
	})

	t.Run("a subject over its limit gets 429", func(t *testing.T) {
		bob := token("bob", secret)
		for i := range 3 {
			if r := get(t, gw+"/greet/Bob", "Authorization", bob); r.status != http.StatusOK {
				t.Fatalf("request %d of the burst: %d %s", i, r.status, r.body)
			}
		}
		r := get(t, gw+"/greet/Bob", "Authorization", bob)
		r.wantProblem(t, http.StatusTooManyRequests, "urn:sluice:problem:rate-limited")
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("Retry-After %q", ra)
		}
		// Another subject has a bucket of its own.
		if r := get(t, gw+"/greet/Carol", "Authorization", token("carol", secret)); r.status != http.StatusOK {
			t.Errorf("another subject: %d %s", r.status, r.body)
		}
	})
}
