package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A client that sends, over and over, a request every node fails (here a
// path on which the backend answers 500, as an application does on the
// input that crashes its handler) must not take the service from the
// other clients: with the defaults the breaker opened after 20 such calls
// (83 % of the window's calls failed, on every node) and every client got
// 503 circuit-open for 5 s, again and again. The breaker now leaves out
// the caller whose calls failed most when others called too
// (upstream/callers.go).

// clientFrom returns an HTTP client whose connections come from the
// loopback address local (Linux answers all of 127.0.0.0/8).
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: hangLimit}
	return &http.Client{Timeout: hangLimit, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// TestOnePoisoningClientKeepsTheServiceForOthers: 400 requests of one
// client that the backend answers 500 and, after every tenth, one of
// another client's that it answers 200. Every answer is the backend's:
// the other client is never refused, and neither is the first (its 500s
// are its own business).
func TestOnePoisoningClientKeepsTheServiceForOthers(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/po/poison") {
			http.Error(w, "handler crashed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: po, id: po-1, address: %q}\n", strings.TrimPrefix(backend.URL, "http://"))
		b.WriteString("routes:\n  - {name: po, method: GET, path: /po/*, service: po}\n")
		_, addrs := startWith(t, b.String())
		attacker, user := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
		get := func(c *http.Client, path string) (int, string) {
			resp, err := c.Get("http://" + addrs[0] + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		for i := range 400 {
			if code, body := get(attacker, fmt.Sprintf("/po/poison/%d", i)); code != http.StatusInternalServerError {
				t.Fatalf("poisoning request %d: %d %s, want the backend's 500", i, code, body)
			}
			if i%10 == 9 {
				if code, body := get(user, fmt.Sprintf("/po/work/%d", i)); code != http.StatusOK {
					t.Fatalf("after %d poisoning requests, the other client got %d %s, want 200", i+1, code, body)
				}
			}
		}
	})
}
