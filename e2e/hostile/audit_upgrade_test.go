package hostile

// The upgrade audit's cases: handshakes (Connection: Upgrade with an
// Upgrade field) and the tunnels that follow them, and stream routes, each
// against a raw backend of its own that switches, or does not, as the case
// says. They need routes and limits the suite's stack has not (short
// tunnel bounds, a body idle timeout of a second), so they run on gateways
// of their own, on each listener server.
//
// The property the smuggling cases keep: the gateway switches a client's
// connection to raw bytes only when the backend switched, to the protocol
// asked, on a route that allows it; otherwise whatever the client wrote
// after its handshake is read by the gateway as HTTP, routed and checked as
// any request, and reaches no backend as raw bytes.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// upBackend is a raw backend for upgrade cases: it reads requests, answers
// each with its switch function, and once that answer switched the
// connection (by the backend's own lights) records every byte it reads.
type upBackend struct {
	*connServer
	answer upAnswer
	mu     sync.Mutex
	reqs   []string // "METHOD target" of each request read, with X-Probe
	raw    bytes.Buffer
}

// upAnswer answers req on c and reports whether the connection is switched
// (its later bytes are raw) and whether to keep it.
type upAnswer func(c net.Conn, req *http.Request) (switched, keep bool)

func newUpBackend(t *testing.T, answer upAnswer) *upBackend {
	t.Helper()
	b := &upBackend{answer: answer}
	b.connServer = serveConns(t, b.serve)
	return b
}

func (b *upBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, fmt.Sprintf("%s %s probe=%q sub=%q", req.Method, req.RequestURI,
			req.Header.Get("X-Probe"), req.Header.Get("X-Sluice-Subject")))
		b.mu.Unlock()
		switched, keep := b.answer(c, req)
		if switched {
			b.readRaw(c, br)
			return
		}
		if !keep {
			return
		}
	}
}

// readRaw records the switched connection's bytes until it ends.
func (b *upBackend) readRaw(c net.Conn, br *bufio.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := br.Read(buf)
		b.mu.Lock()
		b.raw.Write(buf[:n])
		b.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (b *upBackend) seen() (reqs []string, raw string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...), b.raw.String()
}

// writeAnswer writes out and reports a kept, unswitched connection.
func writeAnswer(out string) upAnswer {
	return func(c net.Conn, _ *http.Request) (bool, bool) {
		_, err := io.WriteString(c, out)
		return false, err == nil
	}
}

// switchWith writes out, a 101 of some form, and takes the connection as
// switched.
func switchWith(out string) upAnswer {
	return func(c net.Conn, _ *http.Request) (bool, bool) {
		_, err := io.WriteString(c, out)
		return err == nil, false
	}
}

// wsSwitch is a correct switch to WebSocket.
const wsSwitch = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"

// switchOrOK switches properly to a handshake, and answers 200 to any
// other request, keeping the connection.
func switchOrOK(c net.Conn, req *http.Request) (bool, bool) {
	if req.Header.Get("Upgrade") == "" {
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Req-Id: plain\r\n\r\nok")
		return false, err == nil
	}
	_, err := io.WriteString(c, wsSwitch)
	return err == nil, false
}

// upRoute is a service with one raw backend and its route, /<slug>/*.
type upRoute struct {
	slug   string
	extra  string // more route fields, YAML flow style, each after ", "
	answer upAnswer
}

// upStack is a gateway for upgrade cases and the backends of its routes.
type upStack struct {
	*stack
	b map[string]*upBackend
}

// newUpStack starts a gateway on server with the given limits (a YAML flow
// mapping, or "") and a route per r, and an auth provider "users" as the
// edge audit's (edgeAuditSecret, sub forwarded as X-Sluice-Subject).
func newUpStack(t *testing.T, name, server, limits string, routes ...upRoute) *upStack {
	t.Helper()
	s := &upStack{stack: &stack{server: name}, b: map[string]*upBackend{}}
	var b strings.Builder
	gatewayYAML(&b, server, 5*time.Second)
	if limits != "" {
		b.WriteString("limits: " + limits + "\n")
	}
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for _, r := range routes {
		s.b[r.slug] = newUpBackend(t, r.answer)
		fmt.Fprintf(&b, "    - {service: up-%s, id: up-%s-1, address: %q}\n", r.slug, r.slug, s.b[r.slug].addr())
	}
	usersYAML(t, &b, edgeAuditSecret)
	b.WriteString("defaults:\n  budget: {timeout: 2s, max: 2s, min: 1ms}\nroutes:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "  - {name: up-%s, method: \"*\", path: /%s/*, service: up-%s%s}\n", r.slug, r.slug, r.slug, r.extra)
	}
	proc, addrs := startWith(t, b.String())
	s.proc, s.gw, s.admin = proc, addrs[0], addrs[1]
	return s
}

// smuggled is a request a client writes right after its handshake: it
// must reach a backend only through the gateway's routing (where
// /internal/* has no route), never as raw bytes on a connection the
// gateway did not switch.
const smuggled = "GET /internal/secret HTTP/1.1\r\nHost: h\r\nX-Probe: smuggled\r\nConnection: close\r\n\r\n"

// handshake is a WebSocket handshake for target, with more header lines.
func handshake(target string, fields ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Probe: handshake\r\n" +
		strings.Join(append(fields, ""), "\r\n") + "\r\n"
}

// openTunnel writes raw, a handshake and maybe bytes after it, on a new
// connection and reads the answer's header.
func openTunnel(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("no answer to the handshake: %v", err)
	}
	return c, br, resp
}

// mustSwitch opens a tunnel through target and fails unless it switched.
func mustSwitch(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br, resp := openTunnel(t, addr, raw)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("the handshake got %d, want 101", resp.StatusCode)
	}
	return c, br
}

// readUntilEnd reads what c sends until it ends or hangLimit passes.
func readUntilEnd(c net.Conn, br *bufio.Reader) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	b, err := io.ReadAll(br)
	return string(b), err
}

// goingAway is the close frame with code 1001 the gateway sends a client.
const goingAway = "\x88\x02\x03\xe9"

// notSwitched: the backend answered a handshake without switching
// properly, so the gateway must not switch either.
var notSwitched = []upRoute{
	{slug: "ns-200", answer: writeAnswer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")},
	{slug: "ns-426", answer: writeAnswer("HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nno")},
	{slug: "ns-404", answer: writeAnswer("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")},
	{slug: "ns-101-noupgrade", answer: switchWith("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")},
	{slug: "ns-101-noconnection", answer: switchWith("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")},
	{slug: "ns-101-h2c", answer: switchWith("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")},
}

// checkNotSwitched: the client gets no 101, and the request it wrote right
// after its handshake is the gateway's to route (/internal/* has no
// route: 404), never raw bytes on the backend's connection nor a request
// the backend read.
func checkNotSwitched(t *testing.T, s *upStack, slug string) {
	x := send(t, s.gw, handshake("/"+slug+"/x")+smuggled)
	for _, a := range x.answers {
		if a.status() == http.StatusSwitchingProtocols {
			t.Errorf("the client got a 101 (%s): the gateway switched on the backend's broken answer", x)
		}
	}
	if len(x.answers) != 2 || x.answers[1].status() != http.StatusNotFound {
		t.Errorf("%s: want the handshake's answer, then the gateway's 404 to the request after it", x)
	}
	reqs, raw := s.b[slug].seen()
	if strings.Contains(raw, "smuggled") {
		t.Errorf("the client's bytes after its handshake reached the backend raw: %q", raw)
	}
	for _, r := range reqs {
		if strings.Contains(r, "smuggled") {
			t.Errorf("the backend read the client's bytes as a request: %s", r)
		}
	}
}

// upgradeRoutes are the routes of the handshake cases' gateway.
func upgradeRoutes() []upRoute {
	rs := append([]upRoute(nil), notSwitched...)
	return append(rs,
		upRoute{slug: "ws", answer: switchOrOK},
		upRoute{slug: "ws10", answer: switchOrOK},
		upRoute{slug: "wsbody", answer: switchOrOK},
		upRoute{slug: "wsh2c", answer: switchOrOK},
		upRoute{slug: "wsauth", extra: ", auth: users", answer: switchOrOK},
		upRoute{slug: "wsrate", extra: ", rate_limit: {rps: 0.001, burst: 1}", answer: switchOrOK},
		upRoute{slug: "connect", answer: switchWith("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")},
		upRoute{slug: "cl101", answer: switchWith("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 7\r\n\r\n")},
		upRoute{slug: "bhalf", answer: func(c net.Conn, _ *http.Request) (bool, bool) {
			_, _ = io.WriteString(c, wsSwitch+"bye")
			_ = c.(*net.TCPConn).CloseWrite()
			return true, false
		}},
	)
}

// upgradeCases are the handshake cases, each on its own route of the
// gateway upgradeRoutes makes.
func upgradeCases() []upCase {
	var cs []upCase
	for _, r := range notSwitched {
		cs = append(cs, upCase{"no switch on " + r.slug, func(t *testing.T, s *upStack) { checkNotSwitched(t, s, r.slug) }})
	}
	return append(cs,
		upCase{"an HTTP/1.0 handshake is not switched", http10NotSwitched},
		upCase{"a handshake declaring a body it never sends: 400 (408 when h2c is offered), then the close", handshakeBodyNeverSent},
		upCase{"a handshake with a body reaches no backend", refusedHandshakes},
		upCase{"an offer of a protocol the route does not take is ignored, the request served", h2cOfferIgnored},
		upCase{"a 101 reaches the client without the backend's Content-Length", switchWithoutLength},
		upCase{"CONNECT is refused by the gateway and reaches no backend, whatever its target", connectRefused},
		upCase{"bytes sent before the 101 reach the backend once, after the switch", earlyBytes},
		upCase{"the backend's half-close: the client reads its last bytes, and can still send", backendHalfClose},
		upCase{"auth, claim headers and rate limits apply to handshakes", handshakePolicies},
	)
}

// http10NotSwitched: an HTTP/1.0 request's Upgrade field is ignored (RFC
// 9110, section 7.8); an HTTP/1.0 proxy before the gateway may have passed
// it on, and would read the tunnel's bytes as answers.
func http10NotSwitched(t *testing.T, s *upStack) {
	raw := strings.Replace(handshake("/ws10/x"), "HTTP/1.1", "HTTP/1.0", 1)
	x := send(t, s.gw, raw)
	if len(x.answers) == 0 || x.answers[0].status() != http.StatusOK || x.answers[0].resp.Header.Get("X-Req-Id") != "plain" {
		t.Errorf("%s: want the backend's answer to a plain request", x)
	}
	reqs, _ := s.b["ws10"].seen()
	t.Logf("the backend read %q", reqs)
}

// handshakeBodyNeverSent: a handshake declares a body (which the route
// refuses: 400) and never sends it. The server reads the declared body
// after the answer, to keep the connection; the body idle timeout (1 s
// here) must end that read, where it held the connection and the answer
// for as long as the client liked. An offer of h2c, which the route does
// not take, is a plain request whose body the route reads: 408 at the
// body idle timeout, then the close.
func handshakeBodyNeverSent(t *testing.T, s *upStack) {
	for _, c := range []struct {
		raw  string
		want int
	}{
		{handshake("/wsbody/x", "Content-Length: 10"), http.StatusBadRequest},
		{"GET /wsh2c/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 10\r\n\r\n", http.StatusRequestTimeout},
	} {
		conn := dial(t, s.gw)
		if _, err := io.WriteString(conn, c.raw); err != nil {
			t.Fatal(err)
		}
		x := readAll(conn, http.MethodGet)
		if len(x.answers) != 1 || x.answers[0].status() != c.want || !x.answers[0].isProblem() {
			t.Errorf("%s, want one %d problem", x, c.want)
		}
		if !x.closed() {
			t.Errorf("%s: the connection was held past %v, want it closed after the body idle timeout", x, hangLimit)
		}
	}
}

// refusedHandshakes: a handshake with a body (Content-Length or chunked)
// is refused 400 before any backend sees it.
func refusedHandshakes(t *testing.T, s *upStack) {
	for _, raw := range []string{
		handshake("/wsbody/x", "Content-Length: 5") + "hello",
		handshake("/wsbody/x", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n",
	} {
		x := send(t, s.gw, raw+smuggled)
		if len(x.answers) == 0 || x.answers[0].status() != http.StatusBadRequest || !x.answers[0].isProblem() {
			t.Errorf("%s: want a 400 problem", x)
		}
	}
	if reqs, raw := s.b["wsbody"].seen(); len(reqs) > 0 || raw != "" {
		t.Errorf("the backend of /wsbody/ read %q and raw %q: want nothing", reqs, raw)
	}
}

// h2cOfferIgnored: an offer to switch to a protocol the route does not
// take (h2c, with its HTTP2-Settings, as curl --http2 sends it) is ignored
// (RFC 9110, section 7.8): the request is served as a plain one, and the
// backend sees no offer, so nothing switches behind the gateway.
func h2cOfferIgnored(t *testing.T, s *upStack) {
	raw := "GET /wsh2c/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
	x := send(t, s.gw, raw+smuggled)
	if len(x.answers) == 0 || x.answers[0].status() != http.StatusOK || x.answers[0].resp.Header.Get("X-Req-Id") != "plain" {
		t.Errorf("%s: want the backend's answer to a plain request", x)
	}
	if reqs, raw := s.b["wsh2c"].seen(); len(reqs) != 1 || raw != "" {
		t.Errorf("the backend of /wsh2c/ read %q and raw %q: want one plain request", reqs, raw)
	}
}

// connectRefused: CONNECT asks a forward proxy for a tunnel, and every
// 2xx to it switches the connection (RFC 9110, section 9.3.6). The route of
// /connect/ takes every method ("*"), and its backend, a forward proxy,
// switches on its 200: forwarded there, a CONNECT's connection was kept
// for reuse and carried the next client's CONNECT into the first one's
// tunnel. No route takes CONNECT (router/dispatch.go's anyMethods): on a
// route's path it is refused 405, with the methods the path takes, an
// authority (h:443) matches no route (404), and what the client wrote
// after it is the gateway's to route.
func connectRefused(t *testing.T, s *upStack) {
	for _, target := range []string{"/connect/x", "/connect/y", "h:443"} {
		want := http.StatusMethodNotAllowed
		if !strings.HasPrefix(target, "/") {
			want = http.StatusNotFound
		}
		x := send(t, s.gw, "CONNECT "+target+" HTTP/1.1\r\nHost: h\r\n\r\n"+smuggled)
		if len(x.answers) != 2 || x.answers[0].status() != want || !x.answers[0].isProblem() ||
			x.answers[1].status() != http.StatusNotFound {
			t.Errorf("CONNECT %s: %s: want a %d problem, then the gateway's 404 to the request after it", target, x, want)
		}
		if strings.HasPrefix(target, "/") && x.answers[0].resp.Header.Get("Allow") == "" {
			t.Errorf("CONNECT %s: a 405 without Allow", target)
		}
	}
	if reqs, raw := s.b["connect"].seen(); len(reqs) > 0 || raw != "" {
		t.Errorf("the backend of /connect/ read %q and raw %q: want nothing", reqs, raw)
	}
}

// switchWithoutLength: a 1xx answer has no body, and a server must not
// send it a Content-Length (RFC 9110, section 8.6): a client or proxy
// before the gateway that believed the backend's would take the tunnel's
// first bytes for its body.
func switchWithoutLength(t *testing.T, s *upStack) {
	c := dial(t, s.gw)
	if _, err := io.WriteString(c, handshake("/cl101/x")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	tp := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := tp.ReadString('\n')
		head.WriteString(line)
		if err != nil || line == "\r\n" {
			break
		}
	}
	if !strings.HasPrefix(head.String(), "HTTP/1.1 101 ") {
		t.Fatalf("got %q, want a 101", head.String())
	}
	if strings.Contains(strings.ToLower(head.String()), "content-length") {
		t.Errorf("the 101 carries the backend's Content-Length: %q", head.String())
	}
}

// earlyBytes: what the client writes right behind its handshake, before
// the 101, goes to the backend after the switch, once.
func earlyBytes(t *testing.T, s *upStack) {
	c, _ := mustSwitch(t, s.gw, handshake("/ws/early")+"EARLY")
	c.(*net.TCPConn).CloseWrite()
	// The backend records until its connection ends: the gateway passes
	// the client's EOF on, as a half-close or a close.
	waitFor(t, "the backend's connection to end", func() bool {
		_, raw := s.b["ws"].seen()
		return strings.Contains(raw, "EARLY")
	})
	if _, raw := s.b["ws"].seen(); strings.Count(raw, "EARLY") != 1 {
		t.Errorf("the backend read %q, want EARLY once", raw)
	}
}

// backendHalfClose: a backend that finishes sending (FIN) can still read:
// the client reads its last bytes and EOF, and what it sends afterwards
// reaches the backend.
func backendHalfClose(t *testing.T, s *upStack) {
	c, br := mustSwitch(t, s.gw, handshake("/bhalf/x"))
	got, err := readUntilEnd(c, br)
	if got != "bye" || err != nil {
		t.Fatalf("the client read %q, %v: want bye, then EOF", got, err)
	}
	if _, err := io.WriteString(c, "late"); err != nil {
		t.Fatalf("the client can no longer send: %v", err)
	}
	waitFor(t, "the backend to read the client's late bytes", func() bool {
		_, raw := s.b["bhalf"].seen()
		return raw == "late"
	})
}

// handshakePolicies: a handshake meets the route's auth (401 without a
// token; the claim header a client forges is replaced by the token's) and
// its rate limit (the second handshake 429), as any request does.
func handshakePolicies(t *testing.T, s *upStack) {
	x := send(t, s.gw, handshake("/wsauth/none", "X-Sluice-Subject: admin")+smuggled)
	if len(x.answers) == 0 || x.answers[0].status() != http.StatusUnauthorized {
		t.Errorf("%s: want 401 to a handshake without a token", x)
	}
	c, _ := mustSwitch(t, s.gw, handshake("/wsauth/tok", "X-Sluice-Subject: admin", "X_Sluice_Subject: admin",
		"Authorization: Bearer "+edgeAuditToken(t, "alice")))
	c.Close()
	reqs, raw := s.b["wsauth"].seen()
	if len(reqs) != 1 || !strings.Contains(reqs[0], `sub="alice"`) || strings.Contains(raw, "smuggled") {
		t.Errorf("the backend read %q and raw %q: want the one handshake with a token, as alice", reqs, raw)
	}
	c, _ = mustSwitch(t, s.gw, handshake("/wsrate/1"))
	c.Close()
	a, _ := get(t, s.gw, "/wsrate/2", "Connection: Upgrade", "Upgrade: websocket")
	if a.status() != http.StatusTooManyRequests {
		t.Errorf("the second handshake got %s, want 429", a)
	}
}

// waitFor polls cond until it holds, or fails the test after hangLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, what, hangLimit, cond)
}

// waitWithin polls cond until it holds, or fails the test after limit.
func waitWithin(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not waiting for luck
	}
}

// TestAuditUpgrades runs the handshake cases against a gateway of their
// own on each listener server, the cases of a server side by side.
func TestAuditUpgrades(t *testing.T) {
	runUpCases(t, "audit-upgrades", "{body_idle_timeout: 1s}", upgradeRoutes(), upgradeCases())
}

// upCase is one case of a gateway of routes of its own (an upStack).
type upCase struct {
	name string
	run  func(t *testing.T, s *upStack)
}

// runUpCases runs cases, of family, against a gateway of routes and
// limits of their own on each listener server, the cases of a server side
// by side.
func runUpCases(t *testing.T, family, limits string, routes []upRoute, cases []upCase) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newUpStack(t, srv.name, srv.config, limits, routes...)
		var cw sync.WaitGroup
		for _, c := range cases {
			cw.Go(func() {
				runCase(t, s.stack, hcase{family: family, name: c.name, run: func(t *testing.T, _ *stack) { c.run(t, s) }})
			})
		}
		cw.Wait()
	})
}

// tunnelRoutes are the routes of the tunnel-bounds gateway.
func tunnelRoutes(flooded chan<- error, stop <-chan struct{}) []upRoute {
	return []upRoute{
		{slug: "quiet", answer: switchWith(wsSwitch)},
		{slug: "flood", answer: func(c net.Conn, _ *http.Request) (bool, bool) {
			_, _ = io.WriteString(c, wsSwitch)
			buf := make([]byte, 32<<10)
			for {
				if _, err := c.Write(buf); err != nil {
					flooded <- err
					return false, false
				}
			}
		}},
		{slug: "silent", answer: switchWith(wsSwitch)},
		{slug: "deaf", answer: func(c net.Conn, _ *http.Request) (bool, bool) {
			_, _ = io.WriteString(c, wsSwitch)
			<-stop // reads nothing more until the test ends
			return false, false
		}},
	}
}

// TestAuditTunnelBounds: on a gateway whose tunnels go idle after 1 s and
// live 3 s at most, and whose writes to a client wait 1 s at most, every
// tunnel ends, whatever its peers do, and the gateway then holds no more
// goroutines, files or requests than before them, nor places of the
// switched connections' bound.
func TestAuditTunnelBounds(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		flooded, stop := make(chan error, 1), make(chan struct{})
		t.Cleanup(func() { close(stop) })
		s := newUpStack(t, srv.name, srv.config,
			"{tunnel_idle_timeout: 1s, tunnel_max_lifetime: 3s, write_idle_timeout: 1s}", tunnelRoutes(flooded, stop)...)
		before := held(t, s.stack)
		var cw sync.WaitGroup
		for _, c := range []struct {
			name string
			run  func(t *testing.T)
		}{
			{"a silent tunnel ends with 1001 to both peers", func(t *testing.T) {
				c, br := mustSwitch(t, s.gw, handshake("/silent/x"))
				if got, err := readUntilEnd(c, br); got != goingAway || err != nil {
					t.Errorf("the client read %q, %v: want a close frame with 1001, then EOF", got, err)
				}
				waitFor(t, "the backend's close frame", func() bool {
					_, raw := s.b["silent"].seen()
					return strings.HasPrefix(raw, "\x88\x82")
				})
			}},
			{"a busy tunnel ends at its maximum lifetime", func(t *testing.T) {
				c, br := mustSwitch(t, s.gw, handshake("/quiet/busy"))
				go func() {
					for {
						if _, err := io.WriteString(c, "tick"); err != nil {
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				}()
				if got, err := readUntilEnd(c, br); got != goingAway || err != nil {
					t.Errorf("the client read %q, %v: want a close frame with 1001, then EOF", got, err)
				}
			}},
			{"a client that reads nothing frees the backend's connection", func(t *testing.T) {
				mustSwitch(t, s.gw, handshake("/flood/x"))
				select {
				case err := <-flooded:
					t.Logf("the backend's write failed: %v", err)
				case <-time.After(hangLimit):
					t.Errorf("the backend still writes to a client that reads nothing after %v", hangLimit)
				}
			}},
			{"a backend that reads nothing frees the client's connection", func(t *testing.T) {
				c, _ := mustSwitch(t, s.gw, handshake("/deaf/x"))
				_ = c.SetWriteDeadline(time.Now().Add(hangLimit))
				buf := make([]byte, 32<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						if isTimeout(err) {
							t.Errorf("the client's writes still block after %v", hangLimit)
						}
						return
					}
				}
			}},
			{"clients that reset their tunnels", func(t *testing.T) {
				for i := range 20 {
					c := dial(t, s.gw)
					_, _ = io.WriteString(c, handshake("/quiet/reset")+"x")
					if i%2 == 0 {
						_, _ = bufio.NewReader(c).ReadByte()
					}
					_ = c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}
			}},
		} {
			cw.Go(func() {
				runCase(t, s.stack, hcase{family: "audit-tunnels", name: c.name, run: func(t *testing.T, _ *stack) { c.run(t) }})
			})
		}
		cw.Wait()
		checkReleased(t, s.stack, before)
		// Every tunnel's handler has returned: each gave its place back.
		if n := metric(t, s.stack, "sluice_switched_connections"); n != 0 {
			t.Errorf("every tunnel ended, and %v places of the switched connections' bound are still taken", n)
		}
	})
}

// TestAuditTunnelShutdown: a gateway told to stop with a WebSocket open
// sends its client a close frame with 1001 and its backend a masked one,
// and exits 0 once the client closed its side.
func TestAuditTunnelShutdown(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newUpStack(t, srv.name, srv.config, "", upRoute{slug: "ws", answer: switchWith(wsSwitch)})
		c, br := mustSwitch(t, s.gw, handshake("/ws/x"))
		if err := s.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if got, err := readUntilEnd(c, br); got != goingAway || err != nil {
			t.Errorf("the client read %q, %v: want a close frame with 1001, then EOF", got, err)
		}
		c.Close()
		select {
		case <-s.proc.done:
		case <-time.After(hangLimit):
			t.Fatalf("the gateway did not exit within %v", hangLimit)
		}
		if code := s.proc.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("the gateway exited %d, want 0", code)
		}
		if _, raw := s.b["ws"].seen(); !strings.HasPrefix(raw, "\x88\x82") {
			t.Errorf("the backend read %x, want a masked close frame", raw)
		}
	})
}
