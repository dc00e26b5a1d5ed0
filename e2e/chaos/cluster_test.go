package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// gatewayConfig is the gateway's file: Consul discovery and the routes, every
// other setting at its default, as docs/configuration.md suggests.
const gatewayConfig = `
listeners: [{address: 127.0.0.1:0}]
admin: {address: 127.0.0.1:0}
registry:
  kind: consul
  consul: {address: %s}
routes:
  - {name: work, method: GET, path: /work/*, service: work}
  - {name: write, method: POST, path: /write/*, service: work}
  - {name: chain, method: GET, path: /chain/*, service: front, rewrite: /work/}
`

// cluster is one scenario's world: a Consul agent, a gateway discovering
// through it, and chaosnodes that register in it.
type cluster struct {
	t     *testing.T
	agent *consultest.Agent
	dir   string // write logs
	gw    *proc
	url   string // the gateway's routes
	admin string // the gateway's admin listener
}

// newCluster starts a Consul agent (skipping the test when its binary is not
// built, failing it under CI) and a gateway.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, agent: consultest.Start(t), dir: t.TempDir()}
	file := filepath.Join(c.dir, "gateway.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, gatewayConfig, c.agent.Addr()), 0o644); err != nil {
		t.Fatal(err)
	}
	c.gw = start(t, "gateway", "-config", file, "-access-log=false")
	c.url = "http://" + c.gw.waitMsg("listening", 0)["address"].(string)
	c.admin = "http://" + c.gw.waitMsg("listening", 1)["address"].(string)
	return c
}

// backend is one node of a service: a chaosnode process, started again on
// the same address after a kill or a stop.
type backend struct {
	c       *cluster
	service string
	flags   []string
	addr    string
	gen     int   // incarnations so far
	p       *proc // the current one
	// registeredAt is when the current incarnation was registered, passing.
	registeredAt time.Time
}

// node starts a chaosnode of service with extra flags, registered in Consul.
func (c *cluster) node(service string, flags ...string) *backend {
	c.t.Helper()
	b := &backend{c: c, service: service, flags: flags, addr: fixedAddr(c.t)}
	b.start()
	return b
}

// fixedAddr returns a free loopback address whose port lies below the
// kernel's ephemeral range: no outgoing connection is given that port while
// a killed node is down, so the node can start again on its address.
func fixedAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	for range 100 {
		addr := "127.0.0.1:" + strconv.Itoa(10000+rand.IntN(low-10000))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// nodes starts n nodes of service with the same flags.
func (c *cluster) nodes(n int, service string, flags ...string) []*backend {
	c.t.Helper()
	out := make([]*backend, n)
	for i := range out {
		out[i] = c.node(service, flags...)
	}
	return out
}

func (b *backend) start() {
	t := b.c.t
	t.Helper()
	b.gen++
	args := append([]string{
		"-listen", b.addr, "-consul", b.c.agent.Addr(), "-service", b.service,
		"-writes", filepath.Join(b.c.dir, fmt.Sprintf("writes-%s-%d-%d.log", b.service, time.Now().UnixNano(), b.gen)),
	}, b.flags...)
	b.p = start(t, "chaosnode", args...)
	b.addr = b.p.waitMsg("listening", 0)["address"].(string)
	b.registeredAt = atNs(t, b.p.waitMsg("registered", 0))
}

// restart starts the node again on its address, after a kill or a SIGTERM.
func (b *backend) restart() { b.c.t.Helper(); b.start() }

// kill SIGKILLs the node and waits for it to be gone: before is when the
// signal was sent, gone when the process had been reaped (its sockets
// closed, so that nothing can reach it any more).
func (b *backend) kill() (before, gone time.Time) {
	b.c.t.Helper()
	before = time.Now()
	b.p.signal(syscall.SIGKILL)
	_ = b.p.wait()
	return before, time.Now()
}

// term SIGTERMs the node and waits for its clean exit.
func (b *backend) term() {
	t := b.c.t
	t.Helper()
	b.p.signal(syscall.SIGTERM)
	b.p.waitMsg("stopped", 0)
	if err := b.p.wait(); err != nil {
		t.Fatalf("node %s exited with %v after SIGTERM, want a clean exit", b.addr, err)
	}
}

// set changes the node's service time and failure rate while it runs.
func (b *backend) set(delay time.Duration, fail float64) {
	t := b.c.t
	t.Helper()
	q := url.Values{"delay": {delay.String()}, "fail": {strconv.FormatFloat(fail, 'f', -1, 64)}}
	resp, err := http.Post("http://"+b.addr+"/_chaos/set?"+q.Encode(), "", nil)
	if err != nil {
		t.Fatalf("setting node %s: %v", b.addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("setting node %s: status %d", b.addr, resp.StatusCode)
	}
}

// nodeStats is a chaosnode's GET /_chaos/stats.
type nodeStats struct {
	Node           string `json:"node"`
	Requests       int64  `json:"requests"`
	Failed         int64  `json:"failed"`
	FirstRequestNs int64  `json:"first_request_ns"`
}

// stats reads the counters of the node's current incarnation.
func (b *backend) stats() nodeStats {
	t := b.c.t
	t.Helper()
	var s nodeStats
	getJSON(t, "http://"+b.addr+"/_chaos/stats", &s)
	return s
}

// requests sums the requests the nodes have received, and of them those
// they failed.
func requests(bs []*backend) (n, failed int64) {
	for _, b := range bs {
		s := b.stats()
		n += s.Requests
		failed += s.Failed
	}
	return n, failed
}

// serviceStatus is one service of the gateway's GET /admin/registry.
type serviceStatus struct {
	Service     string `json:"service"`
	Nodes       int    `json:"nodes"`
	LastError   string `json:"last_error"`
	HoldingDrop bool   `json:"holding_drop"`
}

// gatewaySees reports whether the gateway's cache serves n nodes of service,
// cleanly synced with Consul.
func (c *cluster) gatewaySees(service string, n int) bool {
	c.t.Helper()
	var out struct {
		Services []serviceStatus `json:"services"`
	}
	getJSON(c.t, c.admin+"/admin/registry", &out)
	for _, s := range out.Services {
		if s.Service == service {
			return s.Nodes == n && s.LastError == "" && !s.HoldingDrop
		}
	}
	return false
}

// passing reports whether Consul lists addr as a passing node of service.
func (c *cluster) passing(service, addr string) bool {
	c.t.Helper()
	entries, _, err := c.agent.Client().Health().Service(service, "", true, nil)
	if err != nil {
		c.t.Fatalf("consul health query: %v", err)
	}
	for _, e := range entries {
		if net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port)) == addr {
			return true
		}
	}
	return false
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// eventually polls cond every 25 ms until it holds, failing the test after
// within; it returns how long that took.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func itoa(i int) string { return strconv.Itoa(i) }
