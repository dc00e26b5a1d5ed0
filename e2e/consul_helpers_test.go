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

// hit is one request of the load generator.
type hit struct {
	route      string
	start, end time.Time
	status     int
	err        error
	node       string // the greeter that answered, from its budget report
	retries    int    // retries the gateway spent before that greeter
}

func (h hit) ok() bool { return h.err == nil && h.status == http.StatusOK && h.node != "" }

func (h hit) String() string {
	if h.err != nil {
		return fmt.Sprintf("%s at %s: %v", h.route, h.start.Format("15:04:05.000"), h.err)
	}
	return fmt.Sprintf("%s at %s: status %d from %q (retries %d)", h.route, h.start.Format("15:04:05.000"), h.status, h.node, h.retries)
}

// load sends GETs through the gateway at a fixed rate from a few goroutines,
// for at most a given time, and records every answer. Ticks that find every
// worker busy are skipped, not queued, so a slow gateway is not flooded.
type load struct {
	client  *http.Client
	quit    chan struct{}
	done    chan struct{}
	stopper sync.Once

	mu      sync.Mutex
	hits    []hit
	skipped int
}

// startLoad starts rate requests a second to base+route+name, taking the
// routes in turn, until limit passes or stop is called. The test's cleanup
// stops it.
func startLoad(t *testing.T, base string, rate int, limit time.Duration, routes ...string) *load {
	t.Helper()
	workers := max(4, rate/10)
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers, IdleConnTimeout: 30 * time.Second}
	l := &load{
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	tokens := make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(tokens)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		end := time.NewTimer(limit)
		defer end.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.quit:
				return
			case <-end.C:
				return
			case <-tick.C:
			}
			select {
			case tokens <- i:
			default:
				l.mu.Lock()
				l.skipped++
				l.mu.Unlock()
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for i := range tokens {
				l.do(base, routes[i%len(routes)], i)
			}
		})
	}
	go func() {
		wg.Wait()
		tr.CloseIdleConnections()
		close(l.done)
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *load) do(base, route string, i int) {
	h := hit{route: route, start: time.Now()}
	resp, err := l.client.Get(base + route + "n" + strconv.Itoa(i))
	if err == nil {
		h.status = resp.StatusCode
		var body struct {
			Budget struct {
				Node    string `json:"node"`
				Retries int    `json:"retries"`
			} `json:"budget"`
		}
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case rerr != nil:
			err = rerr
		case resp.StatusCode == http.StatusOK:
			if jerr := json.Unmarshal(b, &body); jerr != nil {
				err = fmt.Errorf("decoding %q: %w", b, jerr)
			}
			h.node, h.retries = body.Budget.Node, body.Budget.Retries
		default:
			err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
	}
	h.err, h.end = err, time.Now()
	l.mu.Lock()
	l.hits = append(l.hits, h)
	l.mu.Unlock()
}

// stop ends the load and waits for the requests in flight.
func (l *load) stop() {
	l.stopper.Do(func() { close(l.quit) })
	<-l.done
}

// wait waits for the load to reach its time limit.
func (l *load) wait(t *testing.T) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(time.Minute):
		t.Fatal("the load generator did not finish")
	}
}

// snapshot returns the hits so far. Hits are only appended, so the returned
// prefix is never written again.
func (l *load) snapshot() []hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[:len(l.hits):len(l.hits)]
}

// waitFor polls the hits until cond accepts them, failing after within.
func (l *load) waitFor(t *testing.T, what string, within time.Duration, cond func([]hit) bool) time.Duration {
	t.Helper()
	return eventually(t, what, within, func() bool { return cond(l.snapshot()) })
}

// waitServed waits until every node has answered a request started at or
// after since.
func (l *load) waitServed(t *testing.T, since time.Time, within time.Duration, nodes ...string) {
	t.Helper()
	l.waitServedN(t, since, 1, within, nodes...)
}

// waitServedN waits until every node has answered n requests started at or
// after since.
func (l *load) waitServedN(t *testing.T, since time.Time, n int, within time.Duration, nodes ...string) {
	t.Helper()
	l.waitFor(t, fmt.Sprintf("%d answers from each of %v", n, nodes), within, func(hs []hit) bool {
		seen := map[string]int{}
		for _, h := range hs {
			if h.ok() && !h.start.Before(since) {
				seen[h.node]++
			}
		}
		for _, node := range nodes {
			if seen[node] < n {
				return false
			}
		}
		return true
	})
}

// waitMore waits until n requests started at or after since have ended.
func (l *load) waitMore(t *testing.T, since time.Time, n int, within time.Duration) {
	t.Helper()
	l.waitFor(t, fmt.Sprintf("%d more requests", n), within, func(hs []hit) bool {
		return len(hitsSince(hs, since)) >= n
	})
}

// hitsSince returns the hits started at or after since.
func hitsSince(hs []hit, since time.Time) []hit {
	var out []hit
	for _, h := range hs {
		if !h.start.Before(since) {
			out = append(out, h)
		}
	}
	return out
}

// hitsBetween returns the hits started in [from, to).
func hitsBetween(hs []hit, from, to time.Time) []hit {
	var out []hit
	for _, h := range hs {
		if !h.start.Before(from) && h.start.Before(to) {
			out = append(out, h)
		}
	}
	return out
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
		if !h.ok() {
			s.failures[h.route] = append(s.failures[h.route], h)
			continue
		}
		s.byNode[h.node]++
		if h.retries > 0 {
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
			for i, h := range f {
				if i == 10 {
					t.Logf("... and %d more", len(f)-i)
					break
				}
				t.Logf("failed: %s", h)
			}
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
