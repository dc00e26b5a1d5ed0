package hostile

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// A backend's answer header is bounded, 64 KiB by default
// (limits.max_backend_header_bytes; net/http's transport allows 10 MiB): a
// larger one is a broken answer, 502 problem+json as a malformed one is,
// never relayed; the setting raises the bound.

// bigHeaderAnswer writes a 200 whose header carries 1 MiB of Set-Cookie
// fields, 1 KiB each, then closes the connection.
func bigHeaderAnswer(c net.Conn, req *http.Request, _ int) bool {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Req-Id: %s\r\nContent-Length: 2\r\n", req.Header.Get("X-Req-Id"))
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "Set-Cookie: c%d=%s\r\n", i, strings.Repeat("v", 1000))
	}
	b.WriteString("\r\nok")
	_, _ = c.Write([]byte(b.String()))
	return false
}

// TestBigBackendHeader: on each listener server, a GET and a 100 KiB upload
// (h1's own path and its Fallback's) to a backend that answers a 1 MiB
// header get 502 application/problem+json with the defaults, and the
// backend's answer with limits.max_backend_header_bytes at 2 MiB.
func TestBigBackendHeader(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		for _, tc := range []struct {
			name, limits string
			want         int
		}{
			{"default", "", http.StatusBadGateway},
			{"raised", "limits: {max_backend_header_bytes: 2097152}\n", http.StatusOK},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rb := newRawBackend(t, bigHeaderAnswer)
				var b strings.Builder
				gatewayYAML(&b, srv.config, time.Second)
				b.WriteString(tc.limits)
				fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: big, id: big-1, address: %q}\n", rb.addr())
				b.WriteString("defaults:\n  budget: {timeout: 5s, max: 5s, min: 1ms}\nroutes:\n")
				b.WriteString("  - {name: big, method: GET, path: /big/*, service: big}\n")
				b.WriteString("  - {name: up-big, method: POST, path: /up/big/*, service: big}\n")
				g, addrs := startWith(t, b.String())
				get, err := firstAnswer(t, addrs[0], "/big/x", "g")
				checkBigHeader(t, "GET", get, err, tc.want, "g")
				up, err := uploadAnswer(t, addrs[0], "/up/big/x", "u", 100<<10)
				checkBigHeader(t, "upload", up, err, tc.want, "u")
				if tc.want == http.StatusBadGateway {
					for _, route := range []string{`"route":"big"`, `"route":"up-big"`} {
						waitLogged(t, g, route, `"upstream call failed"`, "response header too large")
					}
				}
			})
		}
	})
}

// waitLogged waits, boundedly, for a line of g's log that holds each of
// parts: the gateway logs a failure before it answers, but its log is read
// by a goroutine of the test's.
func waitLogged(t *testing.T, g *gatewayProc, parts ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a log line with %q", parts), func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return slices.ContainsFunc(g.logs, func(l string) bool { return containsAll(l, parts) })
	})
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// checkBigHeader checks ans, the answer to the request id, is a 502
// problem when want is 502, else the backend's answer.
func checkBigHeader(t *testing.T, what string, ans answer, err error, want int, id string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: no answer: %v", what, err)
		return
	}
	switch {
	case ans.status() != want:
		t.Errorf("%s: got %s, want %d", what, ans, want)
	case want == http.StatusBadGateway && (!ans.isProblem() || ans.resp.Header.Get("Set-Cookie") != ""):
		t.Errorf("%s: got %s with %d Set-Cookie fields, want a problem body and none of the backend's fields", what, ans, len(ans.resp.Header.Values("Set-Cookie")))
	case want == http.StatusOK && (ans.resp.Header.Get("X-Req-Id") != id || string(ans.body) != "ok"):
		t.Errorf("%s: got %s X-Req-Id %q body %q, want the backend's answer", what, ans, ans.resp.Header.Get("X-Req-Id"), ans.body)
	}
}
