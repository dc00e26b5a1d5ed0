package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRouteHeaderRulesEditRequestsAndEveryAnswer runs a gateway whose
// routes edit headers (one with its own rules, one with defaults.headers,
// one with auth): the backend gets the request's fields set and removed,
// the client gets the answer's edited, on the backend's answers, on a 401
// the edge answered itself, and on a compressed answer.
func TestRouteHeaderRulesEditRequestsAndEveryAnswer(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "framework/1.0")
		w.Header().Set("X-Powered-By", "php")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "version="+strings.Join(r.Header.Values("X-Api-Version"), ",")+
			" debug="+r.Header.Get("X-Debug")+" "+strings.Repeat("x", 2000))
	}))
	t.Cleanup(backend.Close)
	key := keyFile(t)
	cfg, _ := loadFile(t, `defaults:
  headers: {response: {remove: [Server]}}
auth:
  jwt:
    p: {algorithms: [HS256], keys: [{hmac_secret_file: "`+key+`"}]}
`+configText(backend.Listener.Addr().String(), `  - path: /own
    service: svc
    compress: {}
    headers:
      request: {set: {X-Api-Version: "2"}, remove: [X-Debug]}
      response: {set: {X-Content-Type-Options: nosniff}, remove: [Server, X-Powered-By]}
  - {path: /defaults, service: svc}
  - {path: /authed, service: svc, auth: p, headers: {response: {set: {X-Content-Type-Options: nosniff}}}}
`))
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			_, front := startGateway(t, cfg, slog.New(slog.DiscardHandler), kind)
			get := func(path string, header ...string) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest("GET", "http://"+front+path, nil)
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Add(header[i], header[i+1])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}
			resp, body := get("/own", "X-Api-Version", "1", "X-Debug", "on") // the client asks for gzip itself
			if !strings.HasPrefix(body, "version=2 debug= ") {
				t.Errorf("the backend saw %.40q", body)
			}
			if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" || !resp.Uncompressed {
				t.Errorf("/own: answer header %v (uncompressed by the client: %v)", resp.Header, resp.Uncompressed)
			}
			resp, body = get("/defaults", "X-Debug", "on")
			if !strings.HasPrefix(body, "version= debug=on ") || resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "php" {
				t.Errorf("/defaults: %.30q, header %v", body, resp.Header)
			}
			resp, _ = get("/authed")
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("/authed without a token: %d, header %v; want 401 with the route's field", resp.StatusCode, resp.Header)
			}
		})
	}
}
