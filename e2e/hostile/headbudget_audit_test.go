package hostile

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
	"github.com/sluicehq/sluice/server"
)

// The slow-large-heads audit: clients that each send a request head larger
// than a connection's 4 KiB reader, slowly, within the header timeout. Each
// such head held a few times its size in the gateway until the timeout,
// and the connection bounds let one address open thousands: on the TLS
// listener, a 60 KiB head held about 160 KiB. On every listener (the lean
// server, net/http's in cleartext, and TLS), the large heads being read
// now share one budget, server.DefaultLargeHeadBytes; past it a large head
// is answered 431 while small ones are served.

// readAnswer reads the answer to the request sent on c, and its body. An
// answer other than 200 must be a problem body.
func readAnswer(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("a %d answer of type %q, want a problem body", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

// headBound is the gateway's bound of a request head (its MaxHeaderBytes,
// cmd/gateway/listen.go), and headSlack what its reader may read past it:
// each large head takes their sum from the budget.
const (
	headBound = 64 << 10
	headSlack = 4 << 10
)

// TestSlowLargeHeadsShareABudget runs the audit on a gateway with the
// defaults, per listener server and over TLS: enough clients to fill the
// budget each send a 5 KiB head and stall; then a complete large head is
// answered 431, a small one is served by the backend, and once the stalled
// clients leave, a large head is served again. The stalled clients come
// from several loopback addresses, each within the per-address bound of
// connections.
func TestSlowLargeHeadsShareABudget(t *testing.T) {
	type variant struct{ name, listener string }
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	ca.Server(t, "127.0.0.1").Write(t, dir, "site")
	variants := []variant{
		{"sluice", `{address: "127.0.0.1:0", server: sluice}`},
		{"net-http", `{address: "127.0.0.1:0", server: net/http}`},
		{"tls", fmt.Sprintf(`{address: "127.0.0.1:0", tls: {cert_file: %q, key_file: %q}}`, dir+"/site.crt", dir+"/site.key")},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			backend := newEchoBackend(t)
			var b strings.Builder
			fmt.Fprintf(&b, "listeners:\n  - %s\nadmin: {address: \"127.0.0.1:0\"}\nshutdown_grace: 1s\n", v.listener)
			b.WriteString("registry:\n  kind: static\n  static:\n")
			fmt.Fprintf(&b, "    - {service: svc, address: %q}\n", strings.TrimPrefix(backend.URL, "http://"))
			b.WriteString("routes:\n  - {name: svc, method: GET, path: /svc/*, service: svc}\n")
			_, addrs := startWith(t, b.String())
			addr := addrs[0]
			dial := func(from int) net.Conn {
				t.Helper()
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(from))}, Timeout: hangLimit}
				var c net.Conn
				var err error
				if v.name == "tls" {
					c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"http/1.1"}})
				} else {
					c, err = d.Dial("tcp", addr)
				}
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(2 * hangLimit))
				return c
			}
			// get sends one request whose X-Pad field takes pad bytes, on a
			// connection of its own, and returns the answer's status.
			get := func(pad int) int {
				t.Helper()
				c := dial(200)
				defer c.Close()
				fmt.Fprintf(c, "GET /svc/probe HTTP/1.1\r\nHost: gw\r\nX-Pad: %s\r\n\r\n", strings.Repeat("p", pad))
				return readAnswer(t, c).StatusCode
			}
			if s := get(6000); s != http.StatusOK {
				t.Fatalf("a large head before the flood: %d, want 200", s)
			}

			fill := int(server.DefaultLargeHeadBytes/(headBound+headSlack)) + 20
			stalled := make([]net.Conn, 0, fill)
			defer func() {
				for _, c := range stalled {
					c.Close()
				}
			}()
			head := "GET /svc/slow HTTP/1.1\r\nHost: gw\r\nX-Large: " + strings.Repeat("a", 5000)
			for i := range fill {
				c := dial(1 + i%16) // 16 addresses, each well within its bound
				if _, err := io.WriteString(c, head); err != nil {
					t.Fatalf("stalled client %d: %v", i, err)
				}
				stalled = append(stalled, c)
			}
			// The gateway reads the stalled heads as they come: a large
			// head is refused once they fill the budget.
			deadline := time.Now().Add(hangLimit)
			for get(6000) != http.StatusRequestHeaderFieldsTooLarge {
				if time.Now().After(deadline) {
					t.Fatalf("%d stalled large heads of 5 KiB: a large head is still served after %v, want 431 once they fill the budget", fill, hangLimit)
				}
			}
			for range 3 {
				if s := get(3000); s != http.StatusOK {
					t.Fatalf("a small head with the budget full: %d, want 200", s)
				}
			}
			for _, c := range stalled {
				c.Close()
			}
			stalled = nil
			deadline = time.Now().Add(hangLimit)
			for get(6000) != http.StatusOK {
				if time.Now().After(deadline) {
					t.Fatalf("the stalled clients gone, a large head is still refused after %v", hangLimit)
				}
			}
		})
	}
}
