package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// The routes the Consul tests drive load through: the same greeting as plain
// HTTP (the gateway forwards a GET, which it may retry even when it may have
// been sent) and as RPC (the gateway sends a POST, which it retries only when
// the connection was never made).
const (
	httpRoute = "/greeter/hello/"
	rpcRoute  = "/greet/"
)

const consulGatewayConfig = `
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
shutdown_grace: 5s
registry:
  kind: consul
  consul:
    address: %s
upstream:
  margin: 1ms
defaults:
  budget: {timeout: 5s}
routes:
  - name: greet
    method: GET
    path: /greet/{name}
    service: greeter
    endpoint: Greeter.Hello
    budget: {timeout: 2s, max: 5s, min: 10ms}
  - name: greeter-http
    method: GET
    path: /greeter/*
    service: greeter
    rewrite: /
`

// consulGateway is a gateway process discovering its backends in Consul.
type consulGateway struct {
	p     *proc
	url   string // base URL of the routes listener
	admin string // base URL of the admin listener
}

// startConsulGateway runs a gateway whose registry is the Consul agent (or
// proxy) at consulAddr.
func startConsulGateway(t *testing.T, consulAddr string) *consulGateway {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, file, fmt.Sprintf(consulGatewayConfig, consulAddr))
	g := &consulGateway{p: start(t, "gateway", "-config", file)}
	g.url = "http://" + g.p.addr(0)
	g.admin = "http://" + g.p.addr(1)
	return g
}

// serviceStatus is one service of the gateway's GET /admin/registry.
type serviceStatus struct {
	Service     string `json:"service"`
	Nodes       int    `json:"nodes"`
	LastError   string `json:"last_error"`
	StaleFor    string `json:"stale_for"`
	HoldingDrop bool   `json:"holding_drop"`
}

// greeter returns the gateway's cache status of the greeter service; ok is
// false until the gateway has looked the service up.
func (g *consulGateway) greeter(t *testing.T) (st serviceStatus, ok bool) {
	t.Helper()
	var out struct {
		Kind     string          `json:"kind"`
		Services []serviceStatus `json:"services"`
	}
	get(t, g.admin+"/admin/registry").decode(t, &out)
	if out.Kind != "consul" {
		t.Fatalf("/admin/registry kind %q, want consul", out.Kind)
	}
	for _, s := range out.Services {
		if s.Service == "greeter" {
			return s, true
		}
	}
	return serviceStatus{}, false
}

// waitGatewayNodes waits until the gateway's cache serves n greeter nodes,
// cleanly synced, and returns when the test saw it.
func (g *consulGateway) waitGatewayNodes(t *testing.T, n int, within time.Duration) time.Time {
	t.Helper()
	eventually(t, fmt.Sprintf("the gateway to serve %d greeter nodes", n), within, func() bool {
		st, ok := g.greeter(t)
		return ok && st.Nodes == n && st.LastError == "" && !st.HoldingDrop
	})
	return time.Now()
}

// greeterNode is a greeter process announced in Consul.
type greeterNode struct {
	p            *proc
	addr         string    // its listen address, the "node" of its answers
	registeredAt time.Time // the time of its "registered" log line
}

// startGreeter runs a greeter that registers itself in agent; extra adds
// flags such as -ttl and -propagation-delay.
func startGreeter(t *testing.T, agent *consultest.Agent, extra ...string) *greeterNode {
	t.Helper()
	args := append([]string{"-listen", "127.0.0.1:0", "-consul", agent.Addr()}, extra...)
	g := &greeterNode{p: start(t, "greeter", args...)}
	g.addr = g.p.addr(0)
	l := g.p.waitLog(func(l map[string]any) bool { return l["msg"] == "registered" })
	g.registeredAt = logTime(t, l)
	return g
}

// stopped waits for the greeter's clean exit after SIGTERM, "stopped" logged.
func (g *greeterNode) stopped(t *testing.T) {
	t.Helper()
	g.p.waitLog(func(l map[string]any) bool { return l["msg"] == "stopped" })
	if err := g.p.wait(); err != nil {
		t.Fatalf("greeter %s exited with %v, want a clean exit", g.addr, err)
	}
}

func logTime(t *testing.T, l map[string]any) time.Time {
	t.Helper()
	s, _ := l["time"].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("log line %v: time: %v", l, err)
	}
	return at
}

// consulNodes returns the host:port of the greeter instances Consul's health
// endpoint lists: passing ones only, or all.
func consulNodes(t *testing.T, c *api.Client, passingOnly bool) []string {
	t.Helper()
	entries, _, err := c.Health().Service("greeter", "", passingOnly, nil)
	if err != nil {
		t.Fatalf("consul health query: %v", err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port)))
	}
	return out
}

// catalogNodes returns the host:port of the greeter instances in Consul's
// catalog, critical ones included.
func catalogNodes(t *testing.T, c *api.Client) []string {
	t.Helper()
	svcs, _, err := c.Catalog().Service("greeter", "", nil)
	if err != nil {
		t.Fatalf("consul catalog query: %v", err)
	}
	var out []string
	for _, s := range svcs {
		out = append(out, net.JoinHostPort(s.ServiceAddress, strconv.Itoa(s.ServicePort)))
	}
	return out
}

func hasAddr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds, failing the test after within; it
// returns how long that took, for logs.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return poll(t, what, within, 25*time.Millisecond, cond)
}

// poll is eventually with a chosen interval between tries.
func poll(t *testing.T, what string, within, every time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(every)
	}
	return time.Since(start)
}

// hit is one request of the load generator and what came back
// (e2e/internal/load, shared with the chaos suite).
type hit = eload.Hit

// startLoad starts rate GETs a second, evenly spaced, to base+route+"nN",
// taking the routes in turn, until limit passes or the load is stopped. The
// test's cleanup stops it.
func startLoad(t *testing.T, base string, rate int, limit time.Duration, routes ...string) *eload.Load {
	t.Helper()
	return eload.Start(t, base, eload.Config{Rate: rate, Workers: max(4, rate/10), Limit: limit,
		Timeout: 10 * time.Second, Decode: decodeBudget, Next: func(i int) eload.Request {
			id := "n" + strconv.Itoa(i)
			return eload.Request{Method: http.MethodGet, Path: routes[i%len(routes)] + id, ID: id}
		}})
}

// decodeBudget reads a greeter's answer: a success reports, in its budget,
// the node that answered and the retries the gateway spent before it. Any
// other status is a failure.
func decodeBudget(h *hit, b []byte) error {
	if h.Status != http.StatusOK {
		return fmt.Errorf("status %d: %s", h.Status, strings.TrimSpace(string(b)))
	}
	var body struct {
		Budget struct {
			Node    string `json:"node"`
			Retries int    `json:"retries"`
		} `json:"budget"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return fmt.Errorf("decoding %q: %w", b, err)
	}
	h.Node, h.Retries = body.Budget.Node, body.Budget.Retries
	return nil
}

// route returns the route of a hit's path: the path less its last segment.
func route(h hit) string { return h.Path[:strings.LastIndexByte(h.Path, '/')+1] }

// waitMore waits until n requests started at or after since have ended.
func waitMore(t *testing.T, ld *eload.Load, since time.Time, n int, within time.Duration) {
	t.Helper()
	ld.WaitFor(t, fmt.Sprintf("%d more requests", n), within, func(hs []hit) bool {
		return len(eload.Since(hs, since)) >= n
	})
}

// loadSummary counts hits per route and per node, and lists the failures.
type loadSummary struct {
	total    int
	failures map[string][]hit // by route
	byNode   map[string]int
	retried  int
}

func summarize(hs []hit) loadSummary {
	s := loadSummary{total: len(hs), failures: map[string][]hit{}, byNode: map[string]int{}}
	for _, h := range hs {
		if !h.OK() {
			s.failures[route(h)] = append(s.failures[route(h)], h)
			continue
		}
		s.byNode[h.Node]++
		if h.Retries > 0 {
			s.retried++
		}
	}
	return s
}

func (s loadSummary) failed(route string) int { return len(s.failures[route]) }

// mustNotFail fails the test with the failed requests of the given routes.
func (s loadSummary) mustNotFail(t *testing.T, what string, routes ...string) {
	t.Helper()
	for _, r := range routes {
		if f := s.failures[r]; len(f) > 0 {
			eload.LogFailures(t, f)
			t.Errorf("%s: %d of the requests to %s failed, want none", what, len(f), r)
		}
	}
}

// achievedRate returns the achieved request rate of hs over d.
func achievedRate(hs []hit, d time.Duration) float64 { return float64(len(hs)) / d.Seconds() }

// consulProxy is a reverse proxy in front of a Consul agent that records the
// requests it forwards.
type consulProxy struct {
	addr string
	mu   sync.Mutex
	reqs []proxied
}

type proxied struct {
	at   time.Time
	path string
}

func startConsulProxy(t *testing.T, target string) *consulProxy {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p := &consulProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, proxied{at: time.Now(), path: r.URL.Path})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections() // ends the gateway's blocking query, if it still runs
		srv.Close()
	})
	p.addr = srv.Listener.Addr().String()
	return p
}

// count returns how many requests started in [from, to), and how many of
// them were health queries.
func (p *consulProxy) count(from, to time.Time) (all, health int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.reqs {
		if !r.at.Before(from) && r.at.Before(to) {
			all++
			if strings.HasPrefix(r.path, "/v1/health/service/") {
				health++
			}
		}
	}
	return all, health
}
