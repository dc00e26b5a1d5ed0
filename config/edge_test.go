package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/middleware"
)

const testSecretEnv = "SLUICE_CONFIG_TEST_SECRET"

// edgeFile writes key files into a temporary directory and returns the
// path a configuration file there would have.
func edgeFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("es.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	write("garbage.pem", []byte("not a key\n"))
	write("secret", []byte(strings.Repeat("s", 40)+"\n"))
	return filepath.Join(dir, "gw.yaml")
}

const authYAML = nodes + `auth:
  jwt:
    users:
      issuer: https://id.example
      audiences: [api]
      algorithms: [HS256, ES256]
      keys:
        - {id: s1, hmac_secret_env: ` + testSecretEnv + `}
        - {id: e1, public_key_file: es.pem}
        - {id: s2, hmac_secret_file: secret}
      forward_claims: {sub: X-Sluice-Subject}
trusted_proxies: [10.0.0.0/8, 192.0.2.7]
routes:
  - path: /a
    service: svc
    auth: users
    rate_limit: {rps: 2.5, key: subject, max_wait: 100ms}
  - path: /b
    service: svc
    rate_limit: {rps: 100, burst: 10, key: "header:X-Api-Key", max_keys: 10}
`

func TestParseAuthAndRateLimit(t *testing.T) {
	t.Setenv(testSecretEnv, strings.Repeat("k", 32))
	file := edgeFile(t)
	c, err := config.Parse(file, []byte(authYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTVerifier("users") == nil || c.JWTVerifier("nobody") != nil {
		t.Error("verifier users not built, or nobody built")
	}
	if p := c.Auth.JWT["users"]; p.Leeway != config.DefaultLeeway {
		t.Errorf("leeway %v, want the default %v", p.Leeway, config.DefaultLeeway)
	}
	s, p, ok := c.RouteRateLimit(0)
	if !ok || s.RPS != 2.5 || s.Burst != 3 || s.MaxKeys != middleware.DefaultMaxKeys || !p.Key.NeedsIdentity() ||
		p.MaxWait != 100*time.Millisecond || p.Budget.Timeout != config.DefaultRouteTimeout {
		t.Errorf("route 0: %+v %+v %v", s, p, ok)
	}
	if s, _, ok := c.RouteRateLimit(1); !ok || s.Burst != 10 || s.MaxKeys != 10 {
		t.Errorf("route 1: %+v %v", s, ok)
	}
	if c.Proxies() == nil {
		t.Error("no trusted proxies")
	}
}

func TestEdgeErrorsPointAtTheField(t *testing.T) {
	t.Setenv(testSecretEnv, strings.Repeat("k", 32))
	file := edgeFile(t)
	provider := func(keys string) string {
		return nodes + "auth:\n  jwt:\n    users:\n      algorithms: [HS256, ES256]\n      keys:\n" + keys
	}
	route := func(fields string) string {
		return "routes:\n  - path: /a\n    service: svc\n" + fields
	}
	good := "        - {hmac_secret_env: " + testSecretEnv + "}\n        - {public_key_file: es.pem}\n"
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path      string
		msg       string
	}{
		{"unknown auth name", provider(good) + route("    auth: admins\n"), 14, 11, "routes[0].auth", `unknown auth "admins" (auth.jwt and auth.api_keys declare: users)`},
		{"auth without providers", nodes + route("    auth: users\n"), 7, 11, "routes[0].auth", "declare: none"},
		{"subject key without auth", nodes + route("    rate_limit: {rps: 1, key: subject}\n"), 7, 31, "routes[0].rate_limit.key", "needs the route to authenticate"},
		{"bad key", nodes + route("    rate_limit: {rps: 1, key: cookie}\n"), 7, 31, "routes[0].rate_limit.key", `unknown key "cookie"`},
		{"zero rps", nodes + route("    rate_limit: {rps: 0}\n"), 7, 23, "routes[0].rate_limit.rps", "above 0"},
		{"rps not a number", nodes + route("    rate_limit: {rps: lots}\n"), 7, 23, "routes[0].rate_limit.rps", "expected a number"},
		{"negative burst", nodes + route("    rate_limit: {rps: 1, burst: -1}\n"), 7, 33, "routes[0].rate_limit.burst", "at least 1"},
		{"missing key file", provider("        - {public_key_file: nowhere.pem}\n"), 9, 29, "auth.jwt.users.keys[0].public_key_file", "nowhere.pem"},
		{"bad key file", provider("        - {public_key_file: garbage.pem}\n"), 9, 29, "auth.jwt.users.keys[0].public_key_file", "no PEM block"},
		{"missing env var", provider("        - {hmac_secret_env: SLUICE_NOT_SET_ANYWHERE}\n"), 9, 29, "auth.jwt.users.keys[0].hmac_secret_env", "SLUICE_NOT_SET_ANYWHERE is not set"},
		{"two sources", provider("        - {hmac_secret_env: X, public_key_file: es.pem}\n"), 9, 11, "auth.jwt.users.keys[0]", "exactly one"},
		{"no source", provider("        - {id: a}\n"), 9, 11, "auth.jwt.users.keys[0]", "exactly one"},
		{"algorithm without key", provider("        - {public_key_file: es.pem}\n"), 7, 19, "auth.jwt.users.algorithms", "no key fits HS256"},
		{"alg none", nodes + "auth:\n  jwt:\n    users:\n      algorithms: [none]\n      keys: [{hmac_secret_file: secret}]\n",
			7, 19, "auth.jwt.users.algorithms", `"none" is not supported`},
		{"bad forwarded header", provider(good) + "      forward_claims: {sub: Host}\n", 11, 29, "auth.jwt.users.forward_claims.sub", "not one a claim may be forwarded into"},
		{"bad trusted proxy", "trusted_proxies: [10.0.0.0/8, 10.0.0.0/99]\n", 1, 31, "trusted_proxies[1]", "neither a CIDR prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(file, []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || ce.Path != tt.path || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %v\nwant %s:%d:%d: %s: …%s…", err, file, tt.line, tt.col, tt.path, tt.msg)
			}
			if want := fmt.Sprintf("%s:%d:%d: %s: ", file, tt.line, tt.col, tt.path); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want the prefix %q", err, want)
			}
		})
	}
}
