package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// keysFile writes a keys file of the keys given as name → key and claims.
func keysFile(t *testing.T, path string, entries ...string) {
	t.Helper()
	text := "keys:\n"
	for _, e := range entries {
		name, rest, _ := strings.Cut(e, "=")
		key, claims, _ := strings.Cut(rest, " ")
		sum := sha256.Sum256([]byte(key))
		text += "  - {name: " + name + ", sha256: " + hex.EncodeToString(sum[:])
		if claims != "" {
			text += ", claims: " + claims
		}
		text += "}\n"
	}
	writeFile(t, path, text)
}

// TestAPIKeysThroughTheGateway: routes that name an API key provider let
// through the keys of its file alone, as their holder (a claim
// requirement reads the key's claims, and the backend its name in the
// provider's forward_name field), without the key: the backend never
// sees it. A key removed from the file is refused after
// SIGHUP.
func TestAPIKeysThroughTheGateway(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.yaml")
	keysFile(t, keys, "acme=k-acme {scope: ['orders:read']}", "globex=k-globex {scope: ['orders:read', 'orders:write']}")
	text := configText(be.Listener.Addr().String(), `  - {path: /orders, service: svc, auth: partners}
  - {method: POST, path: /orders, service: svc, auth: partners, require_claims: {scope: ["orders:write"]}}
auth:
  api_keys:
    partners: {keys_file: keys.yaml, forward_name: X-Sluice-Client}
`)
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, text)
	hup := make(chan os.Signal, 1)
	g := runGatewaySignalled(t, hup, "-config", path)

	send := func(method, key string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.front+"/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, tc := range []struct {
		method, key string
		status      int
	}{
		{"GET", "", 401}, {"GET", "k-nope", 401}, {"GET", "k-acme", 200}, {"GET", "k-globex", 200},
		{"POST", "k-acme", 403}, {"POST", "k-globex", 200},
	} {
		code, h, body := send(tc.method, tc.key)
		if code != tc.status {
			t.Errorf("%s with key %q: %d %s, want %d", tc.method, tc.key, code, body, tc.status)
		}
		if code == 401 && (!strings.HasPrefix(h.Get("WWW-Authenticate"), "APIKey") || h.Get("Content-Type") != "application/problem+json") {
			t.Errorf("%s with key %q: 401 with %v", tc.method, tc.key, h)
		}
	}
	mu.Lock()
	if len(seen) != 3 {
		t.Errorf("the backend served %d requests, want 3", len(seen))
	}
	for i, h := range seen {
		if h.Get("X-Api-Key") != "" {
			t.Errorf("the backend saw the key: %v", h)
		}
		if want := []string{"acme", "globex", "globex"}[i]; h.Get("X-Sluice-Client") != want {
			t.Errorf("request %d reached the backend as %q, want %s", i, h.Get("X-Sluice-Client"), want)
		}
	}
	mu.Unlock()
	for _, sample := range []string{`sluice_auth_failures_total{reason="api_key_missing",route="GET /orders"}`,
		`sluice_auth_failures_total{reason="api_key_unknown",route="GET /orders"}`,
		`sluice_auth_failures_total{reason="insufficient_claims",route="POST /orders"}`} {
		if v := g.metric(sample); v != "1" {
			t.Errorf("%s = %q, want 1", sample, v)
		}
	}

	keysFile(t, keys, "globex=k-globex {scope: ['orders:read', 'orders:write']}")
	hup <- syscall.SIGHUP
	g.logs.waitFor(t, "configuration reloaded", 1)
	if code, _, _ := send("GET", "k-acme"); code != 401 {
		t.Errorf("a key removed from the file: %d after SIGHUP, want 401", code)
	}
	if code, _, _ := send("GET", "k-globex"); code != 200 {
		t.Errorf("a key kept in the file: %d after SIGHUP, want 200", code)
	}
}

// TestAPIKeyFilesAreFollowed: between loads, a keys file that changed
// gives its provider the new keys; one that does not parse is logged
// once, and the keys loaded go on serving.
func TestAPIKeyFilesAreFollowed(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.yaml")
	keysFile(t, keys, "acme=k1")
	cfg, err := config.ParseIn("gateway.yaml", dir, []byte("registry: {static: [{service: s, address: \"127.0.0.1:1\"}]}\n"+
		"auth: {api_keys: {partners: {keys_file: keys.yaml}}}\nroutes:\n  - {path: /a, service: s, auth: partners}\n"))
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogBuffer()
	f := newAPIKeyFiles(slog.New(slog.NewJSONHandler(logs, nil)))
	f.use(cfg)
	provider := cfg.APIKeys("partners")
	allows := func(key string) bool {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/a", nil)
		req.Header.Set("X-Api-Key", key)
		provider.Authenticate(nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
		return rec.Code == 200
	}
	f.check() // the first reading: the file the load read
	if !allows("k1") || len(logs.String()) != 0 {
		t.Fatalf("first reading: k1 %v, logs %s", allows("k1"), logs)
	}
	keysFile(t, keys, "acme=k2", "globex=k3")
	f.check()
	if allows("k1") || !allows("k2") || !allows("k3") {
		t.Fatal("the changed file was not taken")
	}
	logs.waitFor(t, "API keys reloaded", 1)
	writeFile(t, keys, "keys: [{name: acme, sha256: nope}]\n")
	f.check()
	f.check()
	if !allows("k2") {
		t.Fatal("a file that does not parse replaced the keys")
	}
	if failed, _ := logs.find("API keys reload failed; the keys already loaded keep serving"); len(failed) != 1 {
		t.Fatalf("%d failures logged, want 1", len(failed))
	}
}
