package hostile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// The PROXY protocol audit: a route listener behind a layer-4 balancer
// (127.0.0.5, its proxy_protocol source), on both listener servers. The
// client a v1 or v2 header names is the client everywhere: in the
// X-Forwarded-For the node sees, and under the per-address bound of
// connections (two here), which the balancer's own address would exceed at
// once. A LOCAL header (a balancer's health check) keeps the balancer's
// address. A PROXY line from any other address is just bytes: answered
// 400, its client the peer. A malformed header, or none within the
// deadline, closes the connection, while other clients are served; only
// a connection that sent nothing at all is no refusal.

// balancer is the proxy_protocol source of the audit's gateways.
const balancer = "127.0.0.5"

// proxyGateway starts a gateway on srv whose route listener takes PROXY
// headers from balancer, with at most two connections per client address,
// routing /pp/ to backend: it returns the route and admin addresses.
func proxyGateway(t *testing.T, srv listenerServer, backend *echoBackend) []string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listeners:\n  - {address: \"127.0.0.1:0\", server: %q, proxy_protocol: {from: [%s/32]}}\n", srv.config, balancer)
	b.WriteString("admin: {address: \"127.0.0.1:0\"}\nshutdown_grace: 1s\n")
	b.WriteString("limits: {max_client_connections_per_address: 2}\nregistry:\n  kind: static\n  static:\n")
	fmt.Fprintf(&b, "    - {service: svc, address: %q}\n", strings.TrimPrefix(backend.URL, "http://"))
	b.WriteString("routes:\n  - {method: GET, path: \"/pp/*\", service: svc}\n")
	_, addrs := startWith(t, b.String())
	return addrs
}

// dialFrom dials addr from the local address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: hangLimit}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// v1Header returns a v1 header naming client (an IPv4 address).
func v1Header(client string) string {
	return "PROXY TCP4 " + client + " 127.0.0.1 4711 80\r\n"
}

// v2Header returns a v2 header naming client, with an ALPN TLV.
func v2Header(t *testing.T, client string) string {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.ParseIP(client), Port: 4711},
		&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 80})
	if err := h.SetTLVs([]proxyproto.TLV{{Type: proxyproto.PP2_TYPE_ALPN, Value: []byte("http/1.1")}}); err != nil {
		t.Fatal(err)
	}
	p, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// v2Local returns a v2 LOCAL header, as a balancer's health check sends.
func v2Local(t *testing.T) string {
	t.Helper()
	p, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// proxiedGet sends prefix and a GET of path on c and returns its one answer's
// status, or 0 when the connection ended with none.
func proxiedGet(c net.Conn, prefix, path string, close bool) int {
	conn := ""
	if close {
		conn = "Connection: close\r\n"
	}
	go fmt.Fprintf(c, "%sGET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", prefix, path, conn)
	if !close {
		_ = c.SetReadDeadline(time.Now().Add(hangLimit))
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	x := readAll(c, http.MethodGet)
	if len(x.answers) == 0 {
		return 0
	}
	return x.answers[0].resp.StatusCode
}

// forwardedFor returns the X-Forwarded-For of the one request of path the
// node saw.
func forwardedFor(t *testing.T, backend *echoBackend, path string) string {
	t.Helper()
	seen := backend.matching(path)
	if len(seen) != 1 {
		t.Fatalf("%s: the node saw %d requests, want 1", path, len(seen))
	}
	return seen[0].Header.Get("X-Forwarded-For")
}

// closedSilently reports whether c ends without a byte (within hangLimit).
func closedSilently(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if n != 0 || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("got %d bytes, %v; want the connection closed, nothing answered", n, err)
	}
}

func TestAProxyHeaderNamesTheClientEverywhere(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		backend := newEchoBackend(t)
		addrs := proxyGateway(t, srv, backend)
		// v1 and v2: the header's client is forwarded.
		if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v1Header("198.51.100.7"), "/pp/v1", true); st != http.StatusOK {
			t.Fatalf("v1: %d", st)
		}
		if got := forwardedFor(t, backend, "/pp/v1"); got != "198.51.100.7" {
			t.Errorf("v1: X-Forwarded-For %q, want the header's client", got)
		}
		if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v2Header(t, "203.0.113.9"), "/pp/v2", true); st != http.StatusOK {
			t.Fatalf("v2: %d", st)
		}
		if got := forwardedFor(t, backend, "/pp/v2"); got != "203.0.113.9" {
			t.Errorf("v2: X-Forwarded-For %q, want the header's client", got)
		}
		// LOCAL: the balancer itself.
		if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v2Local(t), "/pp/local", true); st != http.StatusOK {
			t.Fatalf("LOCAL: %d", st)
		}
		if got := forwardedFor(t, backend, "/pp/local"); got != balancer {
			t.Errorf("LOCAL: X-Forwarded-For %q, want the balancer's", got)
		}
		// The per-address bound keys the header's client: two kept-alive
		// connections of one client fill its share, a third is closed,
		// and another client through the same balancer is served.
		for i := range 2 {
			if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v1Header("198.51.100.8"), fmt.Sprintf("/pp/held%d", i), false); st != http.StatusOK {
				t.Fatalf("held %d: %d", i, st)
			}
		}
		if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v1Header("198.51.100.8"), "/pp/third", true); st != 0 {
			t.Errorf("a client's third connection: %d, want it closed by its per-address bound", st)
		}
		if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v2Header(t, "198.51.100.9"), "/pp/other", true); st != http.StatusOK {
			t.Errorf("another client through the balancer: %d", st)
		}
	})
}

func TestAProxyHeaderFromOutsideItsSourcesIsJustBytes(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		backend := newEchoBackend(t)
		addrs := proxyGateway(t, srv, backend)
		if st := proxiedGet(dialFrom(t, "127.0.0.6", addrs[0]), v1Header("198.51.100.7"), "/pp/forged", true); st != http.StatusBadRequest {
			t.Errorf("a PROXY line from outside from: %d, want 400", st)
		}
		if n := len(backend.matching("/pp/forged")); n != 0 {
			t.Errorf("the node saw %d forged requests", n)
		}
		if st := proxiedGet(dialFrom(t, "127.0.0.6", addrs[0]), "", "/pp/plain", true); st != http.StatusOK {
			t.Fatalf("plain: %d", st)
		}
		if got := forwardedFor(t, backend, "/pp/plain"); got != "127.0.0.6" {
			t.Errorf("plain: X-Forwarded-For %q, want the peer", got)
		}
	})
}

func TestABadOrLateProxyHeaderClosesItsConnectionAlone(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		backend := newEchoBackend(t)
		addrs := proxyGateway(t, srv, backend)
		silent := dialFrom(t, balancer, addrs[0])
		slow := dialFrom(t, balancer, addrs[0])
		// A v2 header's signature and command, then nothing (a v1 line
		// cut short is refused at once: the library takes a line in one
		// read, as the protocol lets a receiver).
		if _, err := io.WriteString(slow, v2Header(t, "198.51.100.7")[:14]); err != nil {
			t.Fatal(err)
		}
		// Served while those two wait.
		if st := proxiedGet(dialFrom(t, balancer, addrs[0]), v1Header("198.51.100.7"), "/pp/meanwhile", true); st != http.StatusOK {
			t.Fatalf("a client while others hold their header: %d", st)
		}
		// The ALPN TLV's length (its last 10 bytes but 8) made longer
		// than the block.
		garbageTLV := v2Header(t, "198.51.100.7")
		garbageTLV = garbageTLV[:len(garbageTLV)-10] + "\x00\x20" + garbageTLV[len(garbageTLV)-8:]
		for name, prefix := range map[string]string{
			"v1 garbage":   "PROXY TCP4 garbage here 1 2\r\n",
			"v1 too long":  "PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n",
			"no header":    "",
			"v2 bad TLVs":  garbageTLV,
			"v2 bad count": "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x01x",
		} {
			if st := proxiedGet(dialFrom(t, balancer, addrs[0]), prefix, "/pp/bad", true); st != 0 {
				t.Errorf("%s: answered %d, want the connection closed", name, st)
			}
		}
		closedSilently(t, silent)
		closedSilently(t, slow)
		if n := len(backend.matching("/pp/bad")); n != 0 {
			t.Errorf("the node saw %d requests with bad headers", n)
		}
		// The silent one sent no header to refuse (a balancer's
		// connectivity test): only the slow one counts.
		if got := metricAt(t, addrs[1], "sluice_proxy_protocol_refusals_total", `reason="timeout"`); got != 1 {
			t.Errorf("timeouts counted: %v, want 1", got)
		}
		if got := metricAt(t, addrs[1], "sluice_proxy_protocol_refusals_total", `reason="malformed"`); got != 5 {
			t.Errorf("malformed headers counted: %v, want 5", got)
		}
	})
}
