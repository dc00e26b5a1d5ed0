package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/sluicehq/sluice/internal/dnstest"
)

// TestAStaticNameIsANodeForEachOfItsAddresses runs the gateway with a
// static node named by a host name, as Compose and Kubernetes headless
// services give, that a real DNS server on loopback resolves to three
// replicas. Each replica is a node of its own: the requests spread over
// the three, one replica's crash under load fails no GET (they go to the
// other two, where one node for the name would have carried the crash to
// all), the gateway follows the name's answer as it changes, and keeps the
// last addresses serving while the DNS server fails.
func TestAStaticNameIsANodeForEachOfItsAddresses(t *testing.T) {
	ns := startNameServer(t)
	ns.set("127.0.0.1", "127.0.0.2", "127.0.0.3")
	port, replicas := startReplicas(t, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	gw, url := startWhoGateway(t, ns, port, "")
	served := func(n int) map[string]int { t.Helper(); return servedBy(t, url, n) }
	if by := served(90); len(by) != 3 {
		t.Fatalf("90 requests reached %v, want all three replicas", by)
	}

	// One replica crashes (its listener and connections closed, its
	// requests in flight cut) under 8 clients, after 300 answers; each
	// client sends 150 requests.
	var ok, failed atomic.Int64
	crashNow := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	for range 8 {
		wg.Go(func() {
			for range 150 {
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				if ok.Add(1) == 300 {
					close(crashNow)
				}
			}
		})
	}
	<-crashNow
	replicas["127.0.0.2"].srv.Close()
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of 1200 GETs failed when one replica of three crashed, want none", f)
	}

	// The name now answers one replica: the gateway follows.
	ns.set("127.0.0.1")
	gw.waitLog(resolvedTo(1))
	if by := served(30); by["127.0.0.1"] != 30 {
		t.Fatalf("after the name dropped two replicas: %v, want all on 127.0.0.1", by)
	}
	ns.set("127.0.0.1", "127.0.0.3")
	gw.waitLog(resolvedTo(2))
	if by := served(60); by["127.0.0.3"] == 0 || by["127.0.0.2"] != 0 {
		t.Fatalf("after the name added 127.0.0.3 back: %v", by)
	}

	// The DNS server fails: the last addresses keep serving.
	ns.fail.Store(true)
	gw.waitLog(hasMsg("a static node's host name did not resolve"))
	if by := served(60); by["127.0.0.1"] == 0 || by["127.0.0.3"] == 0 {
		t.Fatalf("while DNS fails: %v, want both replicas still", by)
	}
}

// startWhoGateway runs the gateway with the static node who.test on port,
// resolved by ns every 100 ms, routing GET /who to it, with more
// configuration after (top-level YAML); it returns the gateway and the
// URL of /who.
func startWhoGateway(t *testing.T, ns *nameServer, port int, more string) (*proc, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, file, fmt.Sprintf(`registry:
  dns_server: %q
  dns_refresh: 100ms
  static: [{service: who, address: "who.test:%d"}]
routes:
  - {method: GET, path: /who, service: who}
`, ns.addr, port)+more)
	gw := start(t, "gateway", "-config", file)
	return gw, "http://" + gw.addr(0) + "/who"
}

// servedBy sends n GETs to url, each answered 200 with the address of the
// replica that served it, and counts them by replica.
func servedBy(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	by := map[string]int{}
	for range n {
		r := get(t, url)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		by[string(r.body)]++
	}
	return by
}

// resolvedTo matches the gateway's line telling that the name resolved to
// n addresses.
func resolvedTo(n int) func(map[string]any) bool {
	return func(l map[string]any) bool {
		a, _ := l["addresses"].([]any)
		return hasMsg("a static node's host name resolved")(l) && len(a) == n
	}
}

// nameServer answers A questions for who.test with its current addresses,
// on a port of 127.0.0.1 over UDP and TCP, or SERVFAIL while fail is set.
type nameServer struct {
	addr string
	mu   sync.Mutex
	ips  []net.IP
	fail atomic.Bool
}

func (s *nameServer) set(ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ips = nil
	for _, ip := range ips {
		s.ips = append(s.ips, net.ParseIP(ip))
	}
}

func startNameServer(t *testing.T) *nameServer {
	t.Helper()
	s := &nameServer{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if s.fail.Load() {
			m.Rcode = dns.RcodeServerFailure
			_ = w.WriteMsg(m)
			return
		}
		known := false
		for _, question := range q.Question {
			if !strings.EqualFold(question.Name, "who.test.") {
				continue
			}
			known = true
			if question.Qtype != dns.TypeA {
				continue
			}
			s.mu.Lock()
			for _, ip := range s.ips {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: ip})
			}
			s.mu.Unlock()
		}
		if !known {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	s.addr = dnstest.Serve(t, handler)
	return s
}

// replica is a backend on one loopback address that answers its address.
type replica struct{ srv *http.Server }

// startReplicas starts a replica on each address, all on one port.
func startReplicas(t *testing.T, addrs ...string) (int, map[string]*replica) {
	t.Helper()
	return startReplicasWith(t, func(a string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, a) })
	}, addrs...)
}

// startReplicasWith starts a replica on each address, all on one port,
// serving what handler returns for its address.
func startReplicasWith(t *testing.T, handler func(addr string) http.Handler, addrs ...string) (int, map[string]*replica) {
	t.Helper()
	for range 20 {
		var lns []net.Listener
		port := 0
		for _, a := range addrs {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
			if err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			lns = append(lns, ln)
		}
		if len(lns) < len(addrs) {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		out := map[string]*replica{}
		for i, a := range addrs {
			r := &replica{}
			r.srv = &http.Server{Handler: handler(a)}
			ln := lns[i]
			go r.srv.Serve(ln)
			t.Cleanup(func() { r.srv.Close() })
			out[a] = r
		}
		return port, out
	}
	t.Fatal("no port free on every address")
	return 0, nil
}
