package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// identityBackend records the header of every request it receives: /ws*
// switches to WebSocket and closes, /rpc/* answers a JSON object, /s
// streams a line, anything else answers its path.
func identityBackend(t *testing.T) (string, <-chan http.Header) {
	t.Helper()
	seen := make(chan http.Header, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		switch {
		case strings.HasPrefix(r.URL.Path, "/ws"):
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			c.Close(websocket.StatusNormalClosure, "bye")
		case strings.HasPrefix(r.URL.Path, "/rpc/"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{}`)
		case r.URL.Path == "/s":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: one\n\n")
		default:
			_, _ = io.WriteString(w, r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), seen
}

// spoofed are identity headers a client sends in the hope that a backend
// believes them, each in its usual spelling and some with '_' for '-'.
var spoofed = http.Header{
	"X-Sluice-Subject":    {"admin"},
	"X_sluice_subject":    {"admin"},
	"X-Partner-Email":     {"root@example.com"},
	"X-Forwarded-For":     {"6.6.6.6"},
	"X_forwarded_for":     {"6.6.6.6"},
	"X-Forwarded-Host":    {"evil.example"},
	"X-Forwarded-Proto":   {"https"},
	"X-Forwarded-Prefix":  {"/admin"},
	"X-Forwarded-Port":    {"443"},
	"Forwarded":           {"for=6.6.6.6;proto=https"},
	"X-Real-Ip":           {"6.6.6.6"},
	"X_real_ip":           {"6.6.6.6"},
	"True-Client-Ip":      {"6.6.6.6"},
	"X-Client-Ip":         {"6.6.6.6"},
	"X-Cluster-Client-Ip": {"6.6.6.6"},
	"X-Original-Url":      {"/admin/panel"},
	"X-Rewrite-Url":       {"/admin/panel"},
	"Sluice_budget":       {"ms=99999"},
	"Sluice-Budget":       {`ms=2999, caller="7.7.7.7"`}, // the caller is the gateway's to name
	"X-Other":             {"kept"},
}

// TestSpoofedIdentityHeadersNeverReachTheBackend sends every spoofed
// identity header through every kind of route (plain HTTP, RPC, stream,
// WebSocket upgrade; with and without auth; behind a trusted proxy or not),
// on both listener servers, and checks what the backend receives: only the
// gateway's own X-Forwarded-For, -Host and -Proto, the claim header only
// from a verified token, nothing else of the list, and other headers
// untouched.
func TestSpoofedIdentityHeadersNeverReachTheBackend(t *testing.T) {
	secret := strings.Repeat("z", 32)
	t.Setenv(edgeSecretEnv, secret)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	providers := `auth:
  jwt:
    users:
      algorithms: [HS256]
      keys: [{hmac_secret_env: ` + edgeSecretEnv + `}]
      forward_claims: {sub: X-Sluice-Subject}
    partners:
      algorithms: [HS256]
      keys: [{hmac_secret_env: ` + edgeSecretEnv + `}]
      forward_claims: {email: X-Partner-Email}
`
	kinds := []struct {
		name, method, path string
		auth, ws           bool
	}{
		{"plain HTTP", "GET", "/h", false, false},
		{"plain HTTP with auth", "GET", "/a", true, false},
		{"RPC", "POST", "/r", false, false},
		{"RPC with auth", "POST", "/ra", true, false},
		{"stream", "GET", "/s", false, false},
		{"WebSocket upgrade", "GET", "/ws", false, true},
		{"WebSocket upgrade with auth", "GET", "/wsa", true, true},
	}
	for _, server := range listenerKinds {
		for _, trusted := range []bool{false, true} {
			backend, seen := identityBackend(t)
			text := providers
			if trusted {
				text += "trusted_proxies: [127.0.0.1/32]\n"
			}
			text += configText(backend, `  - {name: http, path: /h, service: svc}
  - {name: http-auth, path: /a, service: svc, auth: users}
  - {name: rpc, method: POST, path: /r, service: svc, endpoint: Svc.Do}
  - {name: rpc-auth, method: POST, path: /ra, service: svc, endpoint: Svc.Do, auth: users}
  - {name: stream, path: /s, service: svc, stream: {}}
  - {name: ws, path: /ws, service: svc}
  - {name: ws-auth, path: /wsa, service: svc, auth: users}
`)
			cfg, _ := loadFile(t, text)
			logger, _ := newLogger()
			_, front := startGateway(t, cfg, logger, server)
			for _, k := range kinds {
				name := server + "/" + k.name
				if trusted {
					name += "/behind a trusted proxy"
				}
				t.Run(name, func(t *testing.T) {
					h := spoofed.Clone()
					if k.auth {
						h.Set("Authorization", "Bearer "+tok)
					}
					if k.ws {
						ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
						defer cancel()
						c, _, err := websocket.Dial(ctx, "ws://"+front+k.path, &websocket.DialOptions{HTTPHeader: h})
						if err != nil {
							t.Fatalf("WebSocket through the gateway: %v", err)
						}
						c.CloseNow()
					} else {
						var body io.Reader
						if k.method == "POST" {
							body = strings.NewReader(`{"x":1}`)
						}
						req, err := http.NewRequest(k.method, "http://"+front+k.path, body)
						if err != nil {
							t.Fatal(err)
						}
						for name, vs := range h {
							req.Header[name] = vs
						}
						resp, err := freshClient().Do(req)
						if err != nil {
							t.Fatal(err)
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							t.Fatalf("status %d", resp.StatusCode)
						}
					}
					var got http.Header
					select {
					case got = <-seen:
					case <-time.After(waitLimit):
						t.Fatal("the backend received nothing")
					}
					checkIdentityHeaders(t, got, front, k.auth, trusted)
				})
			}
		}
	}
}

// checkIdentityHeaders checks the header a backend received for a request
// sent with spoofed to the gateway at front.
func checkIdentityHeaders(t *testing.T, got http.Header, front string, authed, trusted bool) {
	t.Helper()
	wantXFF := "127.0.0.1"
	if trusted {
		wantXFF = "6.6.6.6, 127.0.0.1" // the proxy's list, and the proxy
	}
	want := map[string]string{"X-Forwarded-For": wantXFF, "X-Forwarded-Host": front, "X-Forwarded-Proto": "http", "X-Other": "kept"}
	if authed {
		want["X-Sluice-Subject"] = "u1"
	}
	for name, v := range want {
		if vs := got.Values(name); len(vs) != 1 || vs[0] != v {
			t.Errorf("%s = %q, want %q", name, vs, v)
		}
	}
	// The gateway's own budget, not the client's (its '_' spelling) either,
	// naming the client as the gateway tells clients apart.
	wantCaller := `caller="127.0.0.1"`
	if trusted {
		wantCaller = `caller="6.6.6.6"`
	}
	if b := got.Values("Sluice-Budget"); len(b) != 1 || strings.Contains(b[0], "99999") || !strings.HasSuffix(b[0], ", "+wantCaller) {
		t.Errorf("Sluice-Budget = %q, want the gateway's, naming the caller (%s)", b, wantCaller)
	}
	for name := range got {
		if _, ok := want[http.CanonicalHeaderKey(name)]; ok || name == "Sluice-Budget" {
			continue
		}
		if _, sent := spoofed[name]; sent {
			t.Errorf("the client's %s reached the backend: %q", name, got[name])
			continue
		}
		for s := range spoofed {
			if strings.EqualFold(strings.ReplaceAll(s, "_", "-"), strings.ReplaceAll(name, "_", "-")) {
				t.Errorf("the client's %s reached the backend as %s: %q", s, name, got[name])
			}
		}
	}
}

// TestClaimsReachTheBackendAsInTheToken: over each listener server, a Go
// backend reads the claim headers as the token holds them, or not at all:
// a subject " admin" (whitespace a recipient strips from a field's value)
// and a group "staff,admin" in a list (which it splits at commas) would be
// read as "admin", as another user and another role.
func TestClaimsReachTheBackendAsInTheToken(t *testing.T) {
	secret := strings.Repeat("x", 32)
	t.Setenv(edgeSecretEnv, secret)
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() }))
	t.Cleanup(srv.Close)
	text := `auth:
  jwt:
    users:
      algorithms: [HS256]
      keys: [{hmac_secret_env: ` + edgeSecretEnv + `}]
      forward_claims: {sub: X-Sluice-Subject, groups: X-Sluice-Groups}
` + configText(srv.Listener.Addr().String(), "  - {path: /t, service: svc, auth: users}\n")
	for _, kind := range listenerKinds {
		cfg, _ := loadFile(t, text)
		logger, _ := newLogger()
		_, addr := startGateway(t, cfg, logger, kind)
		for _, c := range []struct {
			sub, groups any
			want        [2]string // the subject and groups the backend reads; "" none
		}{
			{"alice", []string{"staff", "ops"}, [2]string{"alice", "staff,ops"}},
			{" admin", []string{"staff,admin"}, [2]string{}},
			{"admin\t", []string{"staff", " admin"}, [2]string{}},
		} {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": c.sub, "groups": c.groups,
				"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/t", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: sub %q: status %d", kind, c.sub, resp.StatusCode)
			}
			h := <-seen
			if got := [2]string{h.Get("X-Sluice-Subject"), h.Get("X-Sluice-Groups")}; got != c.want {
				t.Errorf("%s: sub %q, groups %q: the backend read %q, want %q", kind, c.sub, c.groups, got, c.want)
			}
		}
	}
}
