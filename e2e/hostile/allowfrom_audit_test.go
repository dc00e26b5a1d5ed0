package hostile

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The allow_from audit: a route that serves one network's clients, behind
// a trusted proxy, on both listener servers. A client outside it is refused
// 403 whatever X-Forwarded-For it writes; a client inside it is served
// directly or through the proxy; the node never sees a refused request.
func TestARouteServesOnlyTheClientsOfItsNetworks(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		backend := newEchoBackend(t)
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		b.WriteString("trusted_proxies: [127.0.0.4]\n")
		staticYAML(&b, "svc", backend)
		b.WriteString("routes:\n  - {method: GET, path: \"/in/*\", service: svc, allow_from: [127.0.0.2/32, \"::1\"]}\n")
		_, addrs := startWith(t, b.String())
		for i, tc := range []struct {
			from, xff string
			served    bool
		}{
			{"127.0.0.2", "", true},
			{"127.0.0.3", "", false},
			{"127.0.0.3", "127.0.0.2", false},            // forged, not through the proxy
			{"127.0.0.4", "127.0.0.2", true},             // through the proxy
			{"127.0.0.4", "127.0.0.2, 127.0.0.3", false}, // forged before the proxy's entry
			{"127.0.0.4", "", false},                     // the proxy itself
		} {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.from)}, Timeout: hangLimit}
			c, err := d.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			xff := ""
			if tc.xff != "" {
				xff = "X-Forwarded-For: " + tc.xff + "\r\n"
			}
			path := fmt.Sprintf("/in/%d", i)
			go fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path, xff)
			x := readAll(c, http.MethodGet)
			c.Close()
			if len(x.answers) != 1 {
				t.Fatalf("from %s: %d answers (%v)", tc.from, len(x.answers), x.end)
			}
			status, reached := x.answers[0].resp.StatusCode, len(backend.matching(path)) > 0
			want := http.StatusForbidden
			if tc.served {
				want = http.StatusOK
			}
			if status != want || reached != tc.served {
				t.Errorf("from %s, X-Forwarded-For %q: %d, node reached %v; want %d", tc.from, tc.xff, status, reached, want)
			}
		}
	})
}
