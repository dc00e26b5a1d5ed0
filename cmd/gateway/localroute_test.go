package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoutesTheGatewayAnswersItself runs the gateway with a redirect and a
// fixed answer beside a service's route, with the defaults, the route
// listener server each: the redirect keeps the path under its catch-all
// and the query, never names another host whatever the client's path, and
// reaches no node; the fixed answer carries the route's header edits.
func TestRoutesTheGatewayAnswersItself(t *testing.T) {
	for _, server := range []string{"", "net/http"} {
		t.Run("server="+server, func(t *testing.T) {
			be := newCheckedBackend(t)
			text := configText(be.addr, `  - {path: /api, service: svc}
  - {method: "*", path: "/old/*", redirect: {to: /new/}}
  - {path: "/up/*", redirect: {to: /}}
  - {path: /robots.txt, respond: {body: "User-agent: *\nDisallow: /\n"}, headers: {response: {set: {Cache-Control: max-age=3600}}}}
`)
			if server != "" {
				text = strings.Replace(text, `listeners: [{address: "127.0.0.1:0"}]`,
					`listeners: [{address: "127.0.0.1:0", server: "`+server+`"}]`, 1)
			}
			path := filepath.Join(t.TempDir(), "gateway.yaml")
			writeFile(t, path, text)
			g := runGateway(t, "-config", path)
			g.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

			for _, tc := range []struct{ method, target, location string }{
				{"GET", "/old/a/b?x=1", "/new/a/b?x=1"},
				{"POST", "/old/orders", "/new/orders"},
				{"GET", "/up///evil.example/x", "/evil.example/x"},
				{"GET", "/up/%2F%2Fevil.example", "/%2F%2Fevil.example"},
			} {
				req, err := http.NewRequest(tc.method, g.front+tc.target, strings.NewReader("a body"))
				if err != nil {
					t.Fatal(err)
				}
				resp, err := g.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				loc := resp.Header.Get("Location")
				if resp.StatusCode != http.StatusTemporaryRedirect || loc != tc.location {
					t.Errorf("%s %s: %d to %q, want 307 to %q", tc.method, tc.target, resp.StatusCode, loc, tc.location)
				}
			}
			resp, err := g.client.Get(g.front + "/robots.txt")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "User-agent: *\nDisallow: /\n" ||
				resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Cache-Control") != "max-age=3600" {
				t.Errorf("robots.txt: %d %q %v", resp.StatusCode, b, resp.Header)
			}
			if n := be.requests.Load(); n != 0 {
				t.Errorf("the backend served %d requests", n)
			}
		})
	}
}
