package hostile

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A route for every method ("*") answers the methods a route may name.
// TRACE and CONNECT are not among them, and reached its backend: a backend
// that answers TRACE echoes the request as it reached it, with the
// client's cookies and what the gateway added (X-Forwarded-For, the
// request id, a token's claims, Sluice-Budget), to any page that can send
// it (cross-site tracing); a 2xx to CONNECT makes the connection a tunnel
// (RFC 9110, section 9.3.6), which a pooled backend connection must never
// become. Both are answered 405, with the methods the path does allow,
// and reach no backend; the others still do.
func TestTraceAndConnectReachNoBackendThroughAnAnyMethodRoute(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		var mu sync.Mutex
		seen := map[string]int{}
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.Method]++
			mu.Unlock()
			w.Header().Set("X-Seen", r.Method)
			w.Header().Set("Content-Type", "message/http")
			_ = r.Header.Write(w) // as a TRACE echo would
		}))
		t.Cleanup(be.Close)
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: any, id: any-1, address: %q}\n", be.Listener.Addr().String())
		b.WriteString("routes:\n  - {name: any, method: \"*\", path: /any/*, service: any}\n")
		_, addrs := startWith(t, b.String())

		for _, m := range []string{"TRACE", "CONNECT", "trace", "TRACK"} {
			x := sendMethod(t, addrs[0], m+" /any/x HTTP/1.1\r\nHost: h\r\nCookie: session=secret\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n", m)
			if len(x.answers) != 1 {
				t.Errorf("%s: %s, want one answer", m, x)
				continue
			}
			a := x.answers[0]
			if a.status() != http.StatusMethodNotAllowed || a.fromBackend() || strings.Contains(string(a.body), "secret") ||
				!strings.HasPrefix(a.resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s: %d from backend %v, %q, want the gateway's 405 problem", m, a.status(), a.fromBackend(), a.body)
			}
			if got := a.resp.Header.Get("Allow"); got != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
				t.Errorf("%s: Allow %q, want the seven methods a route may name", m, got)
			}
		}
		for _, m := range []string{"GET", "POST", "OPTIONS", "DELETE"} {
			x := sendMethod(t, addrs[0], m+" /any/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", m)
			if len(x.answers) != 1 || x.answers[0].status() != http.StatusOK || !x.answers[0].fromBackend() {
				t.Errorf("%s: %s, want the backend's 200", m, x)
			}
		}
		// OPTIONS with Max-Forwards 0 is the gateway's to answer, as the
		// final recipient (RFC 9110, section 7.6.2); a greater count
		// reaches the backend one less.
		x := sendMethod(t, addrs[0], "OPTIONS /any/x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n", "OPTIONS")
		if len(x.answers) != 1 || x.answers[0].status() != http.StatusOK || x.answers[0].fromBackend() ||
			x.answers[0].resp.Header.Get("Allow") != "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" {
			t.Errorf("OPTIONS, Max-Forwards 0: %s, want the gateway's 200 with the route's methods", x)
		}
		x = sendMethod(t, addrs[0], "OPTIONS /any/x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 2\r\nConnection: close\r\n\r\n", "OPTIONS")
		if len(x.answers) != 1 || !x.answers[0].fromBackend() || !strings.Contains(string(x.answers[0].body), "Max-Forwards: 1\r\n") {
			t.Errorf("OPTIONS, Max-Forwards 2: %s, want the backend's answer to a count of 1", x)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen["TRACE"]+seen["CONNECT"]+seen["trace"]+seen["TRACK"] != 0 {
			t.Errorf("the backend saw %v", seen)
		}
	})
}
