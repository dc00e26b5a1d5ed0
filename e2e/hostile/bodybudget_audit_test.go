package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/router"
)

// The slow-held-bodies audit: the gateway reads a request body before it
// picks a node and holds it whole, so that the request can be sent again,
// when it ends within 64 KiB, or within 1 MiB on an RPC route. Clients
// that each send most of such a body and stop held it until their budget or
// the body idle timeout ended, one per connection: 60 KiB a connection on
// an HTTP route, 1 MiB on an RPC route, for as many connections as the
// connection bounds allow. The bodies held now share one budget,
// router.DefaultHeldBodyBytes, beyond each one's first 4 KiB; past it an
// HTTP route streams a body, and an RPC route answers 503.

// TestSlowBodiesShareABudget fills the default budget with clients that
// each send 60 KiB of a 64 KiB body and stall, from 16 loopback addresses,
// each within its bound of connections. The route's budget and the body
// idle timeout are raised so that the stalled bodies outlast the test;
// the held bodies' budget is the default. Then the held bytes stay within
// the budget, a body past it is streamed to the node, whole, a small body
// and a large one that ends are still served, an RPC route's body is
// refused 503 overloaded without reaching the node, and once the stalled
// clients leave, the room comes back and the RPC body is served.
func TestSlowBodiesShareABudget(t *testing.T) {
	backend := newEchoBackend(t)
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	b.WriteString("limits: {body_idle_timeout: 2m}\n")
	b.WriteString("registry:\n  kind: static\n  static:\n")
	fmt.Fprintf(&b, "    - {service: svc, address: %q}\n", strings.TrimPrefix(backend.URL, "http://"))
	b.WriteString("defaults: {budget: {timeout: 2m}}\n")
	b.WriteString("routes:\n  - {name: up, method: POST, path: /up/*, service: svc}\n")
	b.WriteString("  - {name: rpc, method: POST, path: /rpc, service: svc, endpoint: Svc.Echo}\n")
	_, addrs := startWith(t, b.String())
	s := &stack{gw: addrs[0], admin: addrs[1]}

	dial := func(from int) net.Conn {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(from))}, Timeout: hangLimit}
		c, err := d.Dial("tcp", s.gw)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(4 * hangLimit))
		return c
	}
	// post sends one whole request with body on a connection of its own,
	// and returns the answer.
	post := func(path string, body string) *http.Response {
		t.Helper()
		c := dial(200)
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
		return readAnswer(t, c)
	}
	rpcBody := `{"pad":"` + strings.Repeat("r", 100<<10) + `"}`
	if resp := post("/rpc", rpcBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("an RPC body of 100 KiB before the flood: %d, want 200", resp.StatusCode)
	}

	const declared, sent = 64 << 10, 60 << 10
	each := int64(declared - 4<<10) // what a held body of 60 KiB takes: its buffer, less the first 4 KiB
	fill := int(router.DefaultHeldBodyBytes/each) + 20
	stalled := make([]net.Conn, 0, fill)
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	head := fmt.Sprintf("POST /up/slow HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", declared)
	part := head + strings.Repeat("s", sent)
	for i := range fill {
		c := dial(1 + i%16)
		if _, err := io.WriteString(c, part); err != nil {
			t.Fatalf("stalled client %d: %v", i, err)
		}
		stalled = append(stalled, c)
	}
	// The gateway holds the stalled bodies as they come; those past the
	// budget are streamed to the node, which reads what came of them.
	waitMetric(t, s, "sluice_held_body_refused_total", func(v float64) bool { return v >= 20 })
	if held := metric(t, s, "sluice_held_body_bytes"); held > float64(router.DefaultHeldBodyBytes) || held < float64(router.DefaultHeldBodyBytes-each) {
		t.Fatalf("the held bodies take %.0f bytes, want the budget, %d, nearly full", held, router.DefaultHeldBodyBytes)
	}
	if b := metric(t, s, "sluice_held_body_budget_bytes"); b != float64(router.DefaultHeldBodyBytes) {
		t.Errorf("sluice_held_body_budget_bytes = %v, want the default %d", b, router.DefaultHeldBodyBytes)
	}

	resp := post("/rpc", rpcBody)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("an RPC body with the budget full: %d, Retry-After %q; want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(backend.matching("Svc.Echo")); n != 1 {
		t.Fatalf("the node got %d RPC calls, want the one before the flood", n)
	}
	for _, n := range []int{2000, 200 << 10} {
		body := strings.Repeat("x", n)
		resp := post("/up/whole", body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Body-Len") != fmt.Sprint(n) {
			t.Fatalf("a %d-byte body with the budget full: %d, the node read %s bytes", n, resp.StatusCode, resp.Header.Get("X-Body-Len"))
		}
	}

	for _, c := range stalled {
		c.Close()
	}
	stalled = nil
	waitMetric(t, s, "sluice_held_body_bytes", func(v float64) bool { return v == 0 })
	if resp := post("/rpc", rpcBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("the stalled clients gone, an RPC body: %d, want 200", resp.StatusCode)
	}
}
