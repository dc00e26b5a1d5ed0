package hostile

import (
	"bufio"
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

// stalledBodiesYAML is the configuration of a gateway whose clients stall
// in their bodies: the defaults, but for the route's budget and the body
// idle timeout, raised so that the stalled bodies outlast the test; an HTTP
// route (/up/*) and an RPC route (/rpc) to backend.
func stalledBodiesYAML(backend *echoBackend) string {
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	b.WriteString("limits: {body_idle_timeout: 2m}\ndefaults: {budget: {timeout: 2m}}\n")
	b.WriteString("registry:\n  kind: static\n  static:\n")
	fmt.Fprintf(&b, "    - {service: svc, address: %q}\n", strings.TrimPrefix(backend.URL, "http://"))
	b.WriteString("routes:\n  - {name: up, method: POST, path: /up/*, service: svc}\n")
	b.WriteString("  - {name: rpc, method: POST, path: /rpc, service: svc, endpoint: Svc.Echo}\n")
	return b.String()
}

// TestSlowBodiesShareABudget fills the default budget with clients that
// each send most of a body and stall, from 16 loopback addresses, each
// within its bound of connections: first RPC bodies of 1 MB (900 KiB sent),
// which fill most of it in few connections, those past it answered 503;
// then HTTP bodies of 64 KiB (60 KiB sent), those past it streamed to the
// node. The route's budget and the body idle timeout are raised so that the
// stalled bodies outlast the test; the held bodies' budget is the default.
// With the budget full, an RPC body is refused 503 overloaded without
// reaching the node, and HTTP bodies, small and large, are served whole.
// The stalled HTTP clients that found no room were the node's to wait for,
// and the others never reached it; once they leave, the room comes back.
func TestSlowBodiesShareABudget(t *testing.T) {
	backend := newEchoBackend(t)
	_, addrs := startWith(t, stalledBodiesYAML(backend))
	s := &stack{gw: addrs[0], admin: addrs[1]}
	budget := float64(router.DefaultHeldBodyBytes)

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
	// stall opens n connections that each send the head of a request to
	// path declaring a body of declared bytes, and sent bytes of it; each
	// answer's status, when one comes, is sent on answers.
	var stalled [][]net.Conn
	defer func() {
		for _, cs := range stalled {
			for _, c := range cs {
				c.Close()
			}
		}
	}()
	stall := func(n int, path string, declared, sent int, answers chan<- int) []net.Conn {
		t.Helper()
		part := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", path, declared) + strings.Repeat(" ", sent)
		cs := make([]net.Conn, 0, n)
		for i := range n {
			c := dial(1 + i%16)
			if _, err := io.WriteString(c, part); err != nil {
				t.Fatalf("stalled client %d: %v", i, err)
			}
			cs = append(cs, c)
			go func() {
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					answers <- resp.StatusCode
				}
			}()
		}
		stalled = append(stalled, cs)
		return cs
	}
	rpcBody := `{"pad":"` + strings.Repeat("r", 100<<10) + `"}`
	if resp := post("/rpc", rpcBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("an RPC body of 100 KiB before the flood: %d, want 200", resp.StatusCode)
	}

	// RPC bodies of 1 MB, each taking its buffer less the first 4 KiB.
	const rpcDeclared = 1000000
	rpcEach := float64(rpcDeclared - 4<<10)
	rpcFill := int(budget/rpcEach) + 10
	rpcAnswers := make(chan int, rpcFill)
	stall(rpcFill, "/rpc", rpcDeclared, 900<<10, rpcAnswers)
	// Settled when every client's body is held whole or was refused 503.
	refused1, deadline := 0, time.Now().Add(hangLimit)
	for {
		for len(rpcAnswers) > 0 {
			if st := <-rpcAnswers; st != http.StatusServiceUnavailable {
				t.Fatalf("a stalled RPC client was answered %d", st)
			}
			refused1++
		}
		if metric(t, s, "sluice_held_body_bytes") == float64(rpcFill-refused1)*rpcEach {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stalled RPC bodies, %d refused: the held bytes are %.0f after %v, want the others' whole", rpcFill, refused1, metric(t, s, "sluice_held_body_bytes"), hangLimit)
		}
		time.Sleep(20 * time.Millisecond) // polling the gateway's state
	}
	held1 := metric(t, s, "sluice_held_body_bytes")
	if refused1 < 10 || held1 > budget || metric(t, s, "sluice_held_body_refused_total") != float64(refused1) {
		t.Fatalf("%d RPC bodies refused (the metric says %v), %.0f bytes held: want at least 10 refused, within the budget of %.0f",
			refused1, metric(t, s, "sluice_held_body_refused_total"), held1, budget)
	}

	// HTTP bodies of 64 KiB fill the rest; those past it are streamed.
	const upDeclared = 64 << 10
	upEach := float64(upDeclared - 4<<10)
	upFill := int((budget-held1)/upEach) + 10
	upClients := stall(upFill, "/up/slow", upDeclared, 60<<10, make(chan int, upFill))
	waitMetric(t, s, "sluice_held_body_refused_total", func(v float64) bool { return v >= float64(refused1+10) })
	if held := metric(t, s, "sluice_held_body_bytes"); held > budget {
		t.Fatalf("the held bodies take %.0f bytes, over the budget of %.0f", held, budget)
	}
	if b := metric(t, s, "sluice_held_body_budget_bytes"); b != budget {
		t.Errorf("sluice_held_body_budget_bytes = %v, want the default %.0f", b, budget)
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

	// The stalled HTTP clients leave: the node saw (cut short) those it was
	// streamed, and the room they held comes back.
	for _, c := range upClients {
		c.Close()
	}
	deadline = time.Now().Add(hangLimit)
	for {
		// Less the probes': the RPC body's, and the 200 KiB body's, which
		// found no room either as its held start grew.
		streamed := metric(t, s, "sluice_held_body_refused_total") - float64(refused1+2)
		if float64(len(backend.matching("/up/slow"))) == streamed && metric(t, s, "sluice_held_body_bytes") == held1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stalled HTTP clients left: the node saw %d of their requests, %v were streamed; %.0f bytes held, want %.0f",
				len(backend.matching("/up/slow")), streamed, metric(t, s, "sluice_held_body_bytes"), held1)
		}
		time.Sleep(20 * time.Millisecond) // polling the gateway's and the node's state
	}
	if resp := post("/rpc", rpcBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("with room again, an RPC body: %d, want 200", resp.StatusCode)
	}
	for _, cs := range stalled {
		for _, c := range cs {
			c.Close()
		}
	}
	stalled = nil
	waitMetric(t, s, "sluice_held_body_bytes", func(v float64) bool { return v == 0 })
}
