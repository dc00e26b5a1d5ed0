package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The connection-flood audit: one client address opening more connections
// than the gateway has file descriptors for, each a request answered and
// then kept alive (idle well within the idle timeout). Run on a gateway
// whose descriptor limit the test lowers, so that the flood is small.

// floodNofile is the descriptor limit (soft and hard) of the flood audit's
// gateways: small, so that a few hundred connections exhaust it.
const floodNofile = 128

// startLimited starts the gateway as startWith does, with its descriptor
// limit lowered to nofile, soft and hard (Go raises the soft limit to the
// hard one at start, so both must come down): it returns the gateway and
// the addresses of its route and admin listeners.
func startLimited(t *testing.T, config string, nofile int) (*gatewayProc, []string) {
	t.Helper()
	file := t.TempDir() + "/gateway.yaml"
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// sh lowers the limit and execs the gateway in its place: the process
	// is the gateway's, its pid the one /proc tells the descriptors of.
	return runGateway(t, exec.Command("sh", "-c", `ulimit -n `+strconv.Itoa(nofile)+` && exec "$0" "$@"`,
		gatewayBin, "-config", file, "-access-log=false"), 2)
}

// openFDs returns how many descriptors the process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Skipf("cannot count the gateway's descriptors: %v", err)
	}
	return len(ents)
}

// metricAt returns the sum of the samples of the metric name (all label
// sets, or those containing the label filter, when not empty) on the admin
// listener admin.
func metricAt(t *testing.T, admin, name, filter string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") || !strings.Contains(line, filter) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// closingBackend starts a backend that answers every request 200 "ok" and
// closes its connection: each request through the gateway dials it anew.
func closingBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "ok")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// rawGet sends a GET of path on c and returns the answer's status, or an
// error when none came within hangLimit.
func rawGet(c net.Conn, br *bufio.Reader, path string) (int, error) {
	c.SetDeadline(time.Now().Add(hangLimit))
	// An address for Host: the admin listener answers no other name.
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// flood opens n connections to addr, each sending one request for a path
// no route serves and then staying open, idle. It returns once each was
// answered or closed by the gateway, or once the gateway holds at least
// full descriptors (it can accept no more); and the number answered. The
// connections close with the test.
func flood(t *testing.T, pid int, addr string, n, full int) (conns []net.Conn, answered int) {
	t.Helper()
	var settled, ok atomic.Int64
	var mu sync.Mutex
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			// The backlog is full: the flood has done what it can.
			break
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		go func() {
			defer settled.Add(1)
			br := bufio.NewReader(c)
			if code, err := rawGet(c, br, "/no-such-route"); err == nil && code == http.StatusNotFound {
				ok.Add(1)
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	deadline := time.Now().Add(hangLimit)
	for settled.Load() < int64(len(conns)) && openFDs(t, pid) < full {
		if time.Now().After(deadline) {
			t.Fatalf("flood: %d of %d connections settled, the gateway holds %d descriptors", settled.Load(), len(conns), openFDs(t, pid))
		}
		time.Sleep(10 * time.Millisecond) // polling the gateway's state
	}
	return conns, int(ok.Load())
}

// legitClient connects to addr from another address than a flood's
// (127.0.0.2), before the flood, and checks that its GET of /svc/before is
// answered 200. The connection closes with the test.
func legitClient(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	if code, err := rawGet(c, br, "/svc/before"); err != nil || code != http.StatusOK {
		t.Fatalf("before the flood: status %d, %v; want 200", code, err)
	}
	return c, br
}

// floodResult is what a connection flood did to a gateway.
type floodResult struct {
	// statuses counts the answers to the requests of a client connected
	// before the flood, sent during it (0: no answer).
	statuses map[int]int
	// ejections, openings and notSent are the gateway's ejections,
	// breaker openings and attempts not sent, read once the flood ended.
	ejections, openings, notSent float64
}

// floodGateway starts a gateway on srv with the defaults, limits (YAML
// of a limits block, or empty) and one route, /svc/*, to nodes nodes (each
// a backend that closes its connections, so every request dials); it has
// one client address open twice as many connections as the gateway has
// descriptors, each kept alive after one answer, while a client connected
// before the flood, from another address, sends requests (requests of
// them) on its connection; then it closes the flood.
func floodGateway(t *testing.T, srv listenerServer, limits string, nodes, requests int) floodResult {
	t.Helper()
	var b strings.Builder
	gatewayYAML(&b, srv.config, time.Second)
	b.WriteString(limits)
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for i := range nodes {
		fmt.Fprintf(&b, "    - {service: svc, id: svc-%d, address: %q}\n", i, strings.TrimPrefix(closingBackend(t), "http://"))
	}
	b.WriteString("routes:\n  - {name: svc, method: GET, path: /svc/*, service: svc}\n")
	g, addrs := startLimited(t, b.String(), floodNofile)
	pid := g.cmd.Process.Pid
	base := openFDs(t, pid)
	legit, lbr := legitClient(t, addrs[0])

	conns, answered := flood(t, pid, addrs[0], 2*floodNofile, floodNofile)
	t.Logf("%s: descriptors %d at rest, %d during the flood (limit %d); %d of %d flood connections answered",
		srv.name, base, openFDs(t, pid), floodNofile, answered, len(conns))
	res := floodResult{statuses: map[int]int{}}
	for i := range requests {
		code, err := rawGet(legit, lbr, "/svc/during")
		res.statuses[code]++
		if err != nil {
			// The connection is gone: the rest get no answer either.
			res.statuses[0] += requests - i - 1
			break
		}
	}
	for _, c := range conns {
		c.Close()
	}
	// The admin listener accepts again once the flood's descriptors are
	// released; its answers tell what the flood cost the nodes.
	deadline := time.Now().Add(hangLimit)
	for openFDs(t, pid) > base+8 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the gateway's state
	}
	res.ejections = metricAt(t, addrs[1], "sluice_upstream_ejections_total", "")
	res.openings = metricAt(t, addrs[1], "sluice_upstream_breaker_transitions_total", `to="open"`)
	res.notSent = metricAt(t, addrs[1], "sluice_upstream_attempts_total", `outcome="not_sent"`)
	t.Logf("%s: during the flood, statuses %v; after it: ejections %v, breaker openings %v, not-sent attempts %v",
		srv.name, res.statuses, res.ejections, res.openings, res.notSent)
	return res
}

// TestConnFloodAudit floods a gateway with the defaults (floodGateway). A
// safe gateway bounds its client connections below its descriptor limit:
// the flood's excess is closed at once, the client connected before the
// flood is still served (the dials to the nodes have descriptors), and no
// attempt fails, so nothing counts against the nodes: the flood is the
// client's doing.
func TestConnFloodAudit(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		const requests = 20
		res := floodGateway(t, srv, "", 3, requests)
		if res.statuses[http.StatusOK] != requests {
			t.Errorf("during the flood, %d of %d requests on a connection opened before it answered 200 (statuses %v)",
				res.statuses[http.StatusOK], requests, res.statuses)
		}
		if res.ejections != 0 || res.openings != 0 || res.notSent != 0 {
			t.Errorf("a client's connection flood counted against the nodes: %v ejections, %v breaker openings, %v attempts not sent",
				res.ejections, res.openings, res.notSent)
		}
	})
}

// TestLocalDialFailureAudit floods a gateway whose bound of client
// connections is set above its descriptor limit, so that its dials to the
// nodes fail for want of a descriptor (EMFILE). Such a failure is the
// gateway's own, not a node's: no node may be ejected nor the breaker
// opened, and the client is answered 503 (the gateway is overloaded),
// never 502 (which blames the node).
func TestLocalDialFailureAudit(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		const requests = 20
		res := floodGateway(t, srv, "limits: {max_client_connections: 100000}\n", 3, requests)
		if res.statuses[http.StatusBadGateway] != 0 {
			t.Errorf("dials that failed for want of a descriptor answered 502 (statuses %v); want 503", res.statuses)
		}
		if res.ejections != 0 || res.openings != 0 {
			t.Errorf("the gateway's own descriptor shortage counted against the nodes: %v ejections, %v breaker openings",
				res.ejections, res.openings)
		}
	})
}

// TestTunnelFloodAudit floods a gateway of floodNofile descriptors with
// WebSockets, from 16 addresses, each within its share of the client
// connections: a tunnel holds its node's connection beside its client's,
// which the bound of client connections does not count. Tunnels are
// bounded in turn (half the client connections): the handshakes past the
// bound are answered 503, and descriptors are left for a client connected
// before the flood, whose every request is answered 200 (a node is dialled
// for each), and for the admin listener.
func TestTunnelFloodAudit(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		b.WriteString("registry:\n  kind: static\n  static:\n")
		fmt.Fprintf(&b, "    - {service: svc, id: svc-1, address: %q}\n", strings.TrimPrefix(closingBackend(t), "http://"))
		fmt.Fprintf(&b, "    - {service: ws, id: ws-1, address: %q}\n", newUpBackend(t, switchWith(wsSwitch)).addr())
		b.WriteString("routes:\n  - {name: svc, method: GET, path: /svc/*, service: svc}\n" +
			"  - {name: ws, method: GET, path: /ws/*, service: ws}\n")
		g, addrs := startLimited(t, b.String(), floodNofile)
		pid := g.cmd.Process.Pid
		legit, lbr := legitClient(t, addrs[0])

		var switched, refused atomic.Int64
		var wg sync.WaitGroup
		for a := range 16 {
			for range 8 {
				c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+a))}}).Dial("tcp", addrs[0])
				if err != nil {
					continue // the backlog is full: the flood has done what it can
				}
				t.Cleanup(func() { c.Close() })
				wg.Go(func() {
					_, _ = io.WriteString(c, handshake("/ws/x"))
					_ = c.SetReadDeadline(time.Now().Add(hangLimit))
					resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
					switch {
					case err != nil: // closed at once: over the address's share
					case resp.StatusCode == http.StatusSwitchingProtocols:
						switched.Add(1)
					case resp.StatusCode == http.StatusServiceUnavailable:
						refused.Add(1)
					}
				})
			}
		}
		wg.Wait()
		t.Logf("%s: %d tunnels, %d handshakes refused 503; the gateway holds %d descriptors of %d",
			srv.name, switched.Load(), refused.Load(), openFDs(t, pid), floodNofile)
		statuses := map[int]int{}
		for range 20 {
			code, err := rawGet(legit, lbr, "/svc/during")
			statuses[code]++
			if err != nil {
				break
			}
		}
		if statuses[http.StatusOK] != 20 {
			t.Errorf("during the tunnel flood, a client connected before it got statuses %v, want 20 200s", statuses)
		}
		ac, err := net.DialTimeout("tcp", addrs[1], hangLimit)
		if err != nil {
			t.Fatalf("the admin listener: %v", err)
		}
		defer ac.Close()
		if code, err := rawGet(ac, bufio.NewReader(ac), "/metrics"); err != nil || code != http.StatusOK {
			t.Errorf("during the tunnel flood, the admin listener answered %d, %v; want 200", code, err)
		}
	})
}

// handshakeFrom opens a connection to addr from the local address ip and
// asks it for a WebSocket on path: it returns the connection and the
// answer's status, 0 when the connection was closed unanswered (over the
// address's share of the client connections). The connection stays open,
// a tunnel when switched, until closed or the test ends.
func handshakeFrom(t *testing.T, ip net.IP, addr, path string) (net.Conn, int) {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, _ = io.WriteString(c, handshake(path))
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
	if err != nil {
		return c, 0
	}
	return c, resp.StatusCode
}

// TestAFewAddressesCannotTakeEveryTunnel: on a gateway of floodNofile
// descriptors with the defaults (64 client connections, 8 an address, 32
// switched), 4 addresses open WebSockets, each within its share of the
// client connections, until each is refused; then another address asks
// for one. Each address may hold its share of the switched connections
// (an eighth of them, 4): the attackers hold 16 of the 32, and the other
// address gets its tunnel, which counts against that address's share of
// the client connections while it lasts. With the bound global only, the
// 4 addresses took all 32 places and every other client's handshake got
// 503.
func TestAFewAddressesCannotTakeEveryTunnel(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		b.WriteString("registry:\n  kind: static\n  static:\n")
		fmt.Fprintf(&b, "    - {service: ws, id: ws-1, address: %q}\n", newUpBackend(t, switchWith(wsSwitch)).addr())
		b.WriteString("routes:\n  - {name: ws, method: GET, path: /ws/*, service: ws}\n")
		_, addrs := startLimited(t, b.String(), floodNofile)
		var conns []net.Conn
		held, statuses := 0, map[int]int{}
		for a := range 4 {
			ip := net.IPv4(127, 0, 2, byte(10+a))
			for range floodNofile / 2 / 8 { // the address's share of the client connections
				c, code := handshakeFrom(t, ip, addrs[0], "/ws/attack")
				conns = append(conns, c)
				statuses[code]++
				if code == http.StatusSwitchingProtocols {
					held++
				}
			}
		}
		victimIP := net.IPv4(127, 0, 2, 99)
		c, victim := handshakeFrom(t, victimIP, addrs[0], "/ws/victim")
		conns = append(conns, c)
		t.Logf("%s: 4 addresses hold %d tunnels (handshakes: %v); another address's handshake: %d",
			srv.name, held, statuses, victim)
		if victim != http.StatusSwitchingProtocols {
			t.Fatalf("with 4 addresses holding %d tunnels, another address's handshake got %d, want 101", held, victim)
		}
		// The tunnel is its client's connection: it counts against the
		// address's share of the client connections (8) while it lasts.
		answered := 0
		for range floodNofile / 2 / 8 {
			c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: victimIP}}).Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if _, err := rawGet(c, bufio.NewReader(c), "/no-such-route"); err == nil {
				answered++
			}
		}
		if answered != floodNofile/2/8-1 {
			t.Errorf("an address holding a tunnel had %d more connections answered, want %d: the tunnel does not count against its share",
				answered, floodNofile/2/8-1)
		}
		// Each address's share: an eighth of the switched connections, half
		// the client connections, half the descriptors.
		if want := 4 * (floodNofile / 2 / 2 / 8); held != want {
			t.Errorf("4 addresses hold %d tunnels, want %d (their shares)", held, want)
		}
		if n := metricAt(t, addrs[1], "sluice_switched_connections", ""); n != float64(held+1) {
			t.Errorf("%v switched connections counted, with %d tunnels open", n, held+1)
		}
		for _, c := range conns {
			c.Close()
		}
		waitFor(t, "the tunnels' places given back", func() bool {
			return metricAt(t, addrs[1], "sluice_switched_connections", "") == 0
		})
	})
}
