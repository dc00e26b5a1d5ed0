package hostile

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

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
// route (/up/*) and an RPC route (/rpc) to backend. The route listener is
// the lean server, or with h2c net/http's serving HTTP/2 with prior
// knowledge too.
func stalledBodiesYAML(backend *echoBackend, h2c bool) string {
	var b strings.Builder
	if h2c {
		b.WriteString("listeners:\n  - {address: \"127.0.0.1:0\", h2c: true}\nadmin: {address: \"127.0.0.1:0\"}\nshutdown_grace: 1s\n")
	} else {
		gatewayYAML(&b, "sluice", time.Second)
	}
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
	_, addrs := startWith(t, stalledBodiesYAML(backend, false))
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
	refused1, held1 := settleStalledRPC(t, s, rpcAnswers, rpcFill, rpcEach)

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
	deadline := time.Now().Add(hangLimit)
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

// settleStalledRPC waits until each of fill stalled RPC clients has its
// body held whole (each bytes of the budget) or was answered, on answers,
// 503; it returns how many were refused and the bytes held, and fails the
// test unless at least 10 were refused within the default budget, and the
// refusals metric counts them.
func settleStalledRPC(t *testing.T, s *stack, answers <-chan int, fill int, each float64) (refused int, held float64) {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for {
		for len(answers) > 0 {
			if st := <-answers; st != http.StatusServiceUnavailable {
				t.Fatalf("a stalled RPC client was answered %d", st)
			}
			refused++
		}
		if metric(t, s, "sluice_held_body_bytes") == float64(fill-refused)*each {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stalled RPC bodies, %d refused: the held bytes are %.0f after %v, want the others' whole", fill, refused, metric(t, s, "sluice_held_body_bytes"), hangLimit)
		}
		time.Sleep(20 * time.Millisecond) // polling the gateway's state
	}
	held = metric(t, s, "sluice_held_body_bytes")
	budget := float64(router.DefaultHeldBodyBytes)
	if refused < 10 || held > budget || metric(t, s, "sluice_held_body_refused_total") != float64(refused) {
		t.Fatalf("%d RPC bodies refused (the metric says %v), %.0f bytes held: want at least 10 refused, within the budget of %.0f",
			refused, metric(t, s, "sluice_held_body_refused_total"), held, budget)
	}
	return refused, held
}

// TestSlowBodiesShareABudgetOverH2 is TestSlowBodiesShareABudget's RPC half
// over HTTP/2 with prior knowledge: on two connections, streams that each
// send 900 KiB of a 1 MB RPC body and stall fill the default budget, those
// past it answered 503 on their streams. With the budget full, an RPC body
// on a connection that holds stalled streams is refused 503 without reaching
// the node, and HTTP bodies, small and large, are served whole on the same
// connection: a refusal ends one stream, never its connection. Once the
// streams are reset, the room comes back.
func TestSlowBodiesShareABudgetOverH2(t *testing.T) {
	backend := newEchoBackend(t)
	_, addrs := startWith(t, stalledBodiesYAML(backend, true))
	s := &stack{gw: addrs[0], admin: addrs[1]}
	budget := float64(router.DefaultHeldBodyBytes)

	// Two clients, each of one HTTP/2 connection (it counts its dials).
	type h2client struct {
		*http.Client
		dials atomic.Int32
	}
	clients := make([]*h2client, 2)
	for i := range clients {
		c := &h2client{}
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			return (&net.Dialer{Timeout: hangLimit}).DialContext(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		c.Client = &http.Client{Transport: tr, Timeout: 4 * hangLimit}
		clients[i] = c
	}
	post := func(c *h2client, path, body string) *http.Response {
		t.Helper()
		resp, err := c.Post("http://"+s.gw+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("POST %s was answered over %s, want HTTP/2", path, resp.Proto)
		}
		return resp
	}
	rpcBody := `{"pad":"` + strings.Repeat("r", 100<<10) + `"}`
	if resp := post(clients[0], "/rpc", rpcBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("an RPC body of 100 KiB before the flood: %d, want 200", resp.StatusCode)
	}

	// Stalled streams: each sends 900 KiB of 1 MB, then waits for the test
	// to end it.
	const rpcDeclared = 1000000
	rpcEach := float64(rpcDeclared - 4<<10)
	rpcFill := int(budget/rpcEach) + 10
	answers := make(chan int, rpcFill)
	pad := []byte(strings.Repeat(" ", 900<<10))
	var stalled []*io.PipeWriter
	endStalled := func() {
		for _, pw := range stalled {
			pw.CloseWithError(errors.New("the client left"))
		}
		stalled = nil
	}
	defer endStalled()
	for i := range rpcFill {
		pr, pw := io.Pipe()
		stalled = append(stalled, pw)
		req, err := http.NewRequest(http.MethodPost, "http://"+s.gw+"/rpc", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = rpcDeclared
		go pw.Write(pad)
		c := clients[i%len(clients)]
		go func() {
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
				answers <- resp.StatusCode
			}
		}()
	}
	_, held := settleStalledRPC(t, s, answers, rpcFill, rpcEach)

	// An RPC body larger than the room left, on a connection with stalled
	// streams.
	bigBody := `{"pad":"` + strings.Repeat("r", 900<<10) + `"}`
	if room := budget - held; room >= float64(len(bigBody)-4<<10) {
		t.Fatalf("%.0f bytes of the budget left: a body of %d would fit", room, len(bigBody))
	}
	resp := post(clients[0], "/rpc", bigBody)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("an RPC body with the budget full: %d, Retry-After %q; want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(backend.matching("Svc.Echo")); n != 1 {
		t.Fatalf("the node got %d RPC calls, want the one before the flood", n)
	}
	for _, n := range []int{2000, 900 << 10} {
		resp := post(clients[0], "/up/whole", strings.Repeat("x", n))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Body-Len") != fmt.Sprint(n) {
			t.Fatalf("a %d-byte body with the budget full: %d, the node read %s bytes", n, resp.StatusCode, resp.Header.Get("X-Body-Len"))
		}
	}
	for i, c := range clients {
		if n := c.dials.Load(); n != 1 {
			t.Fatalf("client %d dialed %d connections, want its one kept through the refusals", i, n)
		}
	}

	// The stalled streams are reset: their room comes back.
	endStalled()
	waitMetric(t, s, "sluice_held_body_bytes", func(v float64) bool { return v == 0 })
	if resp := post(clients[1], "/rpc", bigBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("with room again, the RPC body refused before: %d, want 200", resp.StatusCode)
	}
}
