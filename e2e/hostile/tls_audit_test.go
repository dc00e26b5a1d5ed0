package hostile

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// One hostile node of four, with the gateway's defaults, for a service
// reached over TLS (services.<name>.tls): "a node whose handshake fails
// was sent nothing; one that answers badly after it may have processed
// the request". Each case puts one bad node beside three good ones and
// runs GETs and POSTs, each to a path of its own, through the real
// gateway until the bad node has drawn two attempts (a node that fails
// is given less and less traffic: it is shunned, seldom ejected, as
// five faults in a row eject a node): a node whose certificate has
// expired, one signed by another authority, one that speaks plain HTTP,
// one that stalls its handshake (each sent nothing: no request may fail,
// and the node reads none), and one that completes the handshake, reads
// the request and answers garbage (the request may have been processed:
// a GET goes to another node, a POST fails, and none is sent twice).
// Every node records the paths it read: no POST's path may be read twice.

// tlsService is the service of the cases, and the name its nodes'
// certificates hold.
const tlsService = "tlsun"

// tlsReads records the paths the nodes of a case read, by path.
type tlsReads struct {
	mu    sync.Mutex
	paths map[string][]string // path → the nodes that read it
}

func (r *tlsReads) add(node, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths[path] = append(r.paths[path], node)
}

// by returns how many requests node read.
func (r *tlsReads) by(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, nodes := range r.paths {
		for _, x := range nodes {
			if x == node {
				n++
			}
		}
	}
	return n
}

// twice returns the POSTs' paths read more than once, with their nodes.
func (r *tlsReads) twice() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p, nodes := range r.paths {
		if strings.Contains(p, "-post/") && len(nodes) > 1 {
			out = append(out, fmt.Sprintf("%s by %v", p, nodes))
		}
	}
	return out
}

// tlsNodeServer starts an https node named name with cert that records the
// paths it reads in reads and answers its name; plain serves it over plain
// HTTP instead. It returns its address.
func tlsNodeServer(t *testing.T, name string, cert *certtest.Leaf, plain bool, reads *tlsReads) string {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		reads.add(name, r.URL.Path)
		io.WriteString(w, name)
	}))
	if plain {
		s.Start()
	} else {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
		s.StartTLS()
	}
	t.Cleanup(s.Close)
	_, addr, _ := strings.Cut(s.URL, "://")
	return addr
}

// garbageNode is a node whose certificate verifies, that reads each
// request (recorded in reads as node "bad"), and answers it with bytes
// that are no HTTP.
func garbageNode(t *testing.T, cert *certtest.Leaf, reads *tlsReads) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	addr, _ := acceptingNode(t, func(c *net.TCPConn) {
		go func() {
			defer c.Close()
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(tc))
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			reads.add("bad", req.URL.Path)
			io.WriteString(tc, "\x16\x03\x01garbage, no status line\r\n\r\n")
			tc.Close()
		}()
	})
	return addr
}

// tlsGateway starts a gateway with the defaults, nodes (host:port) for
// tlsService reached over TLS with the authority in caFile, a GET route
// /tlsun/* and a POST route /tlsun-post/*: the gateway, its route and
// admin listeners.
func tlsGateway(t *testing.T, caFile string, nodes ...string) (g *gatewayProc, gw, admin string) {
	t.Helper()
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	serviceNodesYAML(&b, tlsService, nodes...)
	fmt.Fprintf(&b, "services:\n  %s:\n    tls: {ca_file: %q}\n", tlsService, caFile)
	fmt.Fprintf(&b, "routes:\n  - {name: %s, method: GET, path: /%s/*, service: %s}\n", tlsService, tlsService, tlsService)
	fmt.Fprintf(&b, "  - {name: %s-post, method: POST, path: /%s-post/*, service: %s}\n", tlsService, tlsService, tlsService)
	g, addrs := startWith(t, b.String())
	return g, addrs[0], addrs[1]
}

// tlsPaths are the runs' clients: two GETs and two POSTs at once.
var tlsPaths = []string{"/tlsun/a", "/tlsun/b", "/tlsun-post/c", "/tlsun-post/d"}

// runUntilBadAttempts runs tlsPaths through gw until the bad node has
// drawn two attempts (the good nodes answer every one they get).
func runUntilBadAttempts(t *testing.T, gw, admin string) *loadRun {
	t.Helper()
	return runLoad(t, gw, tlsPaths, func(*loadRun) bool { return attemptsOf(t, admin, tlsService).unreached("") >= 2 })
}

// TestHostileTLSNodeSentNothing: a node whose handshake fails was sent
// nothing, so every request, POSTs too, goes to another node: none fails,
// the node reads none, its attempts count as not sent (those of a stalled
// handshake but the first answers' watch cut: see below), none waits out
// its budget, and the breaker stays closed.
func TestHostileTLSNodeSentNothing(t *testing.T) {
	ca, stranger := certtest.NewCA(t), certtest.NewCA(t)
	caFile := ca.WriteCA(t, t.TempDir(), "nodes-ca.pem")
	for _, tc := range []struct {
		name   string
		bad    func(reads *tlsReads) string
		stalls bool
	}{
		{"an expired certificate", func(reads *tlsReads) string {
			return tlsNodeServer(t, "bad", ca.ExpiredServer(t, tlsService), false, reads)
		}, false},
		{"another authority", func(reads *tlsReads) string {
			return tlsNodeServer(t, "bad", stranger.Server(t, tlsService), false, reads)
		}, false},
		{"plain HTTP", func(reads *tlsReads) string { return tlsNodeServer(t, "bad", nil, true, reads) }, false},
		{"a stalled handshake", func(*tlsReads) string { addr, _ := silentNode(t); return addr }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := &tlsReads{paths: map[string][]string{}}
			nodes := []string{tc.bad(reads)}
			for i := range 3 {
				nodes = append(nodes, tlsNodeServer(t, fmt.Sprintf("good-%d", i), ca.Server(t, tlsService), false, reads))
			}
			_, gw, admin := tlsGateway(t, caFile, nodes...)
			run := runUntilBadAttempts(t, gw, admin)
			att := attemptsOf(t, admin, tlsService)
			breaker, ejected := upstreamOf(t, admin, tlsService)
			t.Logf("%v; attempts %v; breaker %s; ejected %v", run, att, breaker, ejected)
			if n, some := run.failed(); n > 0 {
				t.Errorf("%d of %d requests failed, with one node of four failing its handshake: %q", n, run.total, some)
			}
			if n := reads.by("bad"); n > 0 {
				t.Errorf("the bad node read %d requests", n)
			}
			if n := att.outcome("abandoned"); n > 0 {
				t.Errorf("%d attempts waited on the bad node until their request's budget ended", n)
			}
			// An attempt the per-try timeout cuts in a stalled handshake
			// sent nothing too; but one the watch of a gateway's first
			// answers cuts (upstream/pertry.go's coldTry) is counted as
			// failed whatever its transport's error, plain connects alike:
			// the stalled node's first attempts may all be.
			if n := att.outcome("not_sent"); n == 0 && !tc.stalls {
				t.Error("no attempt counted as not sent")
			}
			if n := att.unreached("") - att.outcome("not_sent"); n > 0 && !tc.stalls {
				t.Errorf("%d attempts on the bad node counted as sent, want every one not sent", n)
			}
			if twice := reads.twice(); len(twice) > 0 {
				t.Errorf("POSTs read twice: %q", twice)
			}
			if breaker != "closed" {
				t.Errorf("the service's breaker is %s: one bad node of four opened it", breaker)
			}
		})
	}
}

// TestHostileTLSNodeAnswersGarbage: a node whose handshake succeeds, that
// reads each request and answers garbage, may have processed it: a GET
// goes to another node and is answered, a POST fails (502) and is never
// sent to another node; its attempts count as failed, none as not sent,
// and the failed POSTs' log lines name the node and what it answered.
func TestHostileTLSNodeAnswersGarbage(t *testing.T) {
	ca := certtest.NewCA(t)
	caFile := ca.WriteCA(t, t.TempDir(), "nodes-ca.pem")
	reads := &tlsReads{paths: map[string][]string{}}
	nodes := []string{garbageNode(t, ca.Server(t, tlsService), reads)}
	for i := range 3 {
		nodes = append(nodes, tlsNodeServer(t, fmt.Sprintf("good-%d", i), ca.Server(t, tlsService), false, reads))
	}
	g, gw, admin := tlsGateway(t, caFile, nodes...)
	run := runUntilBadAttempts(t, gw, admin)
	att := attemptsOf(t, admin, tlsService)
	t.Logf("%v; attempts %v; the bad node read %d", run, att, reads.by("bad"))
	run.mu.Lock()
	failures := slices.Clone(run.failures)
	run.mu.Unlock()
	for _, f := range failures {
		if !strings.HasPrefix(f, "POST ") {
			t.Errorf("a GET failed: %s", f)
		}
	}
	if twice := reads.twice(); len(twice) > 0 {
		t.Errorf("POSTs the bad node read were sent again: %q", twice)
	}
	if n := att.outcome("failed"); n == 0 {
		t.Error("no attempt counted as failed")
	}
	if n := att.outcome("not_sent"); n > 0 {
		t.Errorf("%d attempts counted as not sent, but the node read every request sent to it", n)
	}
	if len(failures) > 0 { // a failed POST's log line names the node and its answer
		g.waitLog(t, tlsService+" at "+nodes[0]+" (sent, no answer): net/http: HTTP/1.x transport connection broken: malformed HTTP")
	}
}
