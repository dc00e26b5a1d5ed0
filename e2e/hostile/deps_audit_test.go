package hostile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The gateway's own dependencies failing (deps_audit_test.go): a trace
// receiver, a JWKS endpoint, a Redis that accept connections and never
// answer. Each costs the requests nothing (no request waits on the
// dependency beyond its documented bound), holds nothing without bound, and
// the gateway still stops when told to.

// depsSlow is the latency above which a request counts as having waited on
// a blackholed dependency: far above what the gateway adds on a loaded
// machine, far below the dependencies' own timeouts (the trace exporter's
// 10 s, a JWKS fetch's 5 s, go-redis's 3 s reads) that a request waiting
// on them would show.
const depsSlow = 2 * time.Second

// blackhole is a TCP listener that accepts every connection, reads and
// discards what it is sent, and never answers: a collector, JWKS server or
// Redis whose process is wedged. It counts the connections it accepted.
type blackhole struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	return b
}

func (b *blackhole) addr() string { return b.ln.Addr().String() }

// okBackend answers every request 200.
func okBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// clientPace is how long each client of the load runs of the audits
// (hammer, runLoad) waits between its requests: the clients' pace, not a
// wait for anything. As fast as they could go, they held both cores for
// seconds, and starved the suites that run beside them (the chaos suite
// times its load).
const clientPace = 2 * time.Millisecond

// hammer sends n GETs to url from workers clients at once, each with
// header h, and returns how many were not answered want and how many took
// longer than depsSlow.
func hammer(url string, n, workers int, want int, h func(i int) http.Header) (wrong, slow int64) {
	var next, bad, late atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second} // a hang guard only
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				time.Sleep(clientPace)
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if h != nil {
					req.Header = h(int(i))
				}
				start := time.Now()
				resp, err := c.Do(req)
				if time.Since(start) > depsSlow {
					late.Add(1)
				}
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return bad.Load(), late.Load()
}

// waitLog waits until the gateway has logged a line containing s.
func (g *gatewayProc) waitLog(t *testing.T, s string) {
	t.Helper()
	waitWithin(t, "the gateway to log "+strconv.Quote(s), time.Minute, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return slices.ContainsFunc(g.logs, func(l string) bool { return strings.Contains(l, s) })
	})
}

// stopGateway sends the gateway SIGTERM and waits until it has exited,
// failing the test if it has not within hang (a hang guard).
func stopGateway(t *testing.T, g *gatewayProc, hang time.Duration) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.done:
	case <-time.After(hang):
		t.Fatalf("the gateway had not exited %s after SIGTERM", hang)
	}
}

// A trace receiver that accepts connections and never answers costs the
// requests nothing: each is answered at once (spans are batched and
// exported in the background, and dropped beyond the batcher's queue, never
// waited for), the exporter holds a connection or two, not one per
// request or span, and SIGTERM still stops the gateway within its shutdown
// grace (the last flush is given up).
func TestTraceReceiverBlackholed(t *testing.T) {
	hole := newBlackhole(t)
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: svc, id: svc-0, address: %q}\n", okBackend(t))
	b.WriteString("routes:\n  - {name: traced, method: GET, path: /traced/*, service: svc}\n")
	fmt.Fprintf(&b, "tracing: {enabled: true, endpoint: %q}\n", hole.addr())
	g, addrs := startWith(t, b.String())

	const n = 6000 // 12,000 spans: several times the batcher's queue
	wrong, slow := hammer("http://"+addrs[0]+"/traced/x", n, 8, http.StatusOK, nil)
	if wrong != 0 || slow != 0 {
		t.Errorf("with the trace receiver blackholed, %d of %d requests failed and %d took over %s", wrong, n, slow, depsSlow)
	}
	t.Logf("%d requests with the trace receiver blackholed: %d failed, %d over %s; %d connections to the receiver", n, wrong, slow, depsSlow, hole.accepted.Load())
	if c := hole.accepted.Load(); c > 4 {
		t.Errorf("the exporter opened %d connections to the receiver for %d requests, want a few", c, n)
	}
	stopGateway(t, g, time.Minute)
}

// A JWKS endpoint that stops answering after the keys were loaded costs
// the requests whose kid the keys hold nothing, and tokens with made-up
// kids (an attacker forcing refetches) start at most one fetch per
// min_refresh_interval (short here, so that the attack reaches the
// endpoint): the endpoint is asked once, not once per request, and only
// the made-up kids wait for its answer, up to the fetch's timeout.
func TestJWKSBlackholedAndRandomKids(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	var wedged atomic.Bool
	release := make(chan struct{})
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if wedged.Load() {
			<-release // accepts, never answers
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
			"x": base64.RawURLEncoding.EncodeToString(key.X.FillBytes(make([]byte, 32))),
			"y": base64.RawURLEncoding.EncodeToString(key.Y.FillBytes(make([]byte, 32))),
		}}})
	}))
	t.Cleanup(func() { close(release); jwksSrv.Close() })

	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	const minRefresh = 200 * time.Millisecond
	fmt.Fprintf(&b, "auth:\n  jwt:\n    idp:\n      algorithms: [ES256]\n      jwks: {url: %q, min_refresh_interval: %s}\n", jwksSrv.URL+"/jwks.json", minRefresh)
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: svc, id: svc-0, address: %q}\n", okBackend(t))
	b.WriteString("routes:\n  - {name: authed, method: GET, path: /authed/*, service: svc, auth: idp}\n")
	g, addrs := startWith(t, b.String())
	g.waitLog(t, "JWKS keys loaded")
	wedged.Store(true)
	before := fetches.Load()

	sign := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign("k1")
	url := "http://" + addrs[0] + "/authed/x"
	start := time.Now()
	var attacks, attackWrong atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 { // the attacker: a new kid each request, until a fetch has been asked for at least
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second} // a hang guard only
			for {
				select {
				case <-stop:
					if fetches.Load() > before {
						return
					}
				default:
				}
				i := attacks.Add(1)
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+sign(fmt.Sprintf("made-up-%d", i)))
				resp, err := c.Do(req)
				if err != nil {
					attackWrong.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					attackWrong.Add(1)
				}
			}
		})
	}
	const n = 1000
	wrong, slow := hammer(url, n, 4, http.StatusOK, func(int) http.Header {
		return http.Header{"Authorization": {"Bearer " + good}}
	})
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if wrong != 0 || slow != 0 {
		t.Errorf("with the JWKS blackholed, %d of %d requests with a known kid failed and %d took over %s", wrong, n, slow, depsSlow)
	}
	if w := attackWrong.Load(); w != 0 {
		t.Errorf("%d of %d tokens with made-up kids were not answered 401", w, attacks.Load())
	}
	t.Logf("JWKS blackholed: %d known-kid requests, %d failed, %d over %s; %d made-up kids in %s, %d fetches",
		n, wrong, slow, depsSlow, attacks.Load(), elapsed, fetches.Load()-before)
	// Single-flight and rate-limited: at most one fetch per
	// min_refresh_interval, whatever the number of made-up kids.
	if f, most := fetches.Load()-before, 1+int64(elapsed/minRefresh); f > most {
		t.Errorf("%d tokens with made-up kids in %s made %d fetches of the JWKS, want at most %d (min_refresh_interval %s)",
			attacks.Load(), elapsed, f, most, minRefresh)
	}
	stopGateway(t, g, time.Minute)
}

// A Redis that accepts connections and never answers (a wedged or
// SIGSTOPped redis-server) costs a route with a global rate limit nothing:
// decisions fall back (fail-open, the default) within redis.timeout, and
// once the breaker is open no request tries Redis. Every request is
// answered 200 from the replica's share, none waits seconds.
func TestRedisBlackholedFailsOpen(t *testing.T) {
	hole := newBlackhole(t)
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	fmt.Fprintf(&b, "redis: {address: %q}\n", hole.addr())
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: svc, id: svc-0, address: %q}\n", okBackend(t))
	b.WriteString("routes:\n  - {name: limited, method: GET, path: /limited/*, service: svc, rate_limit: {rps: 100000, burst: 100000, global: true}}\n")
	g, addrs := startWith(t, b.String())

	const n = 2000
	wrong, slow := hammer("http://"+addrs[0]+"/limited/x", n, 8, http.StatusOK, nil)
	if wrong != 0 || slow != 0 {
		t.Errorf("with Redis blackholed, %d of %d requests failed and %d took over %s", wrong, n, slow, depsSlow)
	}
	t.Logf("%d requests with Redis blackholed: %d failed, %d over %s; %d connections to Redis", n, wrong, slow, depsSlow, hole.accepted.Load())
	// The pool's connections, the heartbeat's and the probe's: bounded by
	// the pool size and the probe's pace, not by the requests.
	if c := hole.accepted.Load(); c > 200 {
		t.Errorf("%d requests opened %d connections to Redis", n, c)
	}
	stopGateway(t, g, time.Minute)
}

// fakeConsul is a Consul agent's health endpoint for one service, svc, at
// one node: its blocking queries (an index already seen) hold until the
// client gives up, as Consul's do while nothing changes. Wedged, it
// accepts every request and answers none: an agent blackholed, or
// SIGSTOPped with its socket open.
type fakeConsul struct {
	srv     *httptest.Server
	node    string
	wedged  atomic.Bool
	queries atomic.Int64
	release chan struct{}
}

func newFakeConsul(t *testing.T, node string) *fakeConsul {
	t.Helper()
	f := &fakeConsul{node: node, release: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.release); f.srv.Close() })
	return f
}

func (f *fakeConsul) serve(w http.ResponseWriter, r *http.Request) {
	f.queries.Add(1)
	hold := func() {
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
	}
	if f.wedged.Load() {
		hold()
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/v1/health/service/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("index") == "7" {
		hold() // nothing changes: the blocking query lasts its wait
		return
	}
	w.Header().Set("X-Consul-Index", "7")
	w.Header().Set("Content-Type", "application/json")
	if name != "svc" {
		io.WriteString(w, "[]")
		return
	}
	host, port, _ := net.SplitHostPort(f.node)
	fmt.Fprintf(w, `[{"Node":{"Node":"n1","Address":%q},"Service":{"ID":"svc-0","Service":"svc","Address":%q,"Port":%s},"Checks":[]}]`, host, host, port)
}

// consulGatewayYAML is a gateway on Consul at addr with a route per
// service of routes (name: service).
func consulGatewayYAML(addr string, routes ...string) string {
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	fmt.Fprintf(&b, "registry:\n  kind: consul\n  consul: {address: %q}\n", addr)
	b.WriteString("routes:\n")
	for _, r := range routes {
		name, svc, _ := strings.Cut(r, ":")
		fmt.Fprintf(&b, "  - {name: %s, method: GET, path: /%s/*, service: %s}\n", name, name, svc)
	}
	return b.String()
}

// A Consul agent that stops answering, during the gateway's blocking
// query and then at a reload, costs the requests to a service whose nodes
// the gateway holds nothing: they are served from the cache, none waits
// on Consul, and a reload that adds a route to that service applies and
// serves at once.
func TestConsulBlackholed(t *testing.T) {
	consul := newFakeConsul(t, okBackend(t))
	addr := strings.TrimPrefix(consul.srv.URL, "http://")
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(consulGatewayYAML(addr, "a:svc")), 0o600); err != nil {
		t.Fatal(err)
	}
	g, addrs := startGateway(t, file, 2)
	base := "http://" + addrs[0]
	if wrong, _ := hammer(base+"/a/x", 50, 2, http.StatusOK, nil); wrong != 0 {
		t.Fatalf("with Consul answering, %d of 50 requests failed", wrong)
	}

	consul.wedged.Store(true) // the blocking query in flight never returns
	const n = 1000
	if wrong, slow := hammer(base+"/a/x", n, 8, http.StatusOK, nil); wrong != 0 || slow != 0 {
		t.Errorf("with Consul blackholed, %d of %d requests failed and %d took over %s", wrong, n, slow, depsSlow)
	}

	if err := os.WriteFile(file, []byte(consulGatewayYAML(addr, "a:svc", "b:svc")), 0o600); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, `"configuration reloaded"`)
	for _, route := range []string{"/a/x", "/b/x"} {
		if wrong, slow := hammer(base+route, n, 8, http.StatusOK, nil); wrong != 0 || slow != 0 {
			t.Errorf("after a reload with Consul blackholed, %d of %d requests to %s failed and %d took over %s", wrong, n, route, slow, depsSlow)
		}
	}
	stopGateway(t, g, time.Minute)
}
