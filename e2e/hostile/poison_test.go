package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// A client that sends, over and over, a request every node fails (here a
// path on which the backend answers 500, as an application does on the
// input that crashes its handler) must not take the service from the
// other clients: with the defaults the breaker opened after 20 such calls
// (83 % of the window's calls failed, on every node) and every client got
// 503 circuit-open for 5 s, again and again. The breaker now leaves out
// the caller whose calls failed most when others called too
// (upstream/callers.go).

// clientFrom returns an HTTP client whose connections come from the
// loopback address local (Linux answers all of 127.0.0.0/8).
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: hangLimit}
	return &http.Client{Timeout: hangLimit, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// TestOnePoisoningClientKeepsTheServiceForOthers: 400 requests of one
// client that the backend answers 500 and, after every tenth, one of
// another client's that it answers 200. Every answer is the backend's:
// the other client is never refused, and neither is the first (its 500s
// are its own business).
func TestOnePoisoningClientKeepsTheServiceForOthers(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/po/poison") {
			http.Error(w, "handler crashed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		addrs := serviceGateway(t, srv.config, "po", backend.URL)
		attacker, user := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
		get := func(c *http.Client, path string) (int, string) { return getFrom(t, c, "http://"+addrs[0]+path) }
		for i := range 400 {
			if code, body := get(attacker, fmt.Sprintf("/po/poison/%d", i)); code != http.StatusInternalServerError {
				t.Fatalf("poisoning request %d: %d %s, want the backend's 500", i, code, body)
			}
			if i%10 == 9 {
				if code, body := get(user, fmt.Sprintf("/po/work/%d", i)); code != http.StatusOK {
					t.Fatalf("after %d poisoning requests, the other client got %d %s, want 200", i+1, code, body)
				}
			}
		}
	})
}

// TestOneSlowClientKeepsTheServiceForOthers: one client keeps 40 requests
// in flight that the backend takes 2 s to answer (a costly search, say),
// while another sends a fast request every 100 ms. The slow answers, far
// apart with 40 in flight, made the node's queue look 3 s long to every
// caller, and with the defaults 45 of the other client's 100 requests
// were refused 503 overloaded (upstream/limit_share.go). The other
// client's requests must all be answered once the run has settled (the
// first 3 s are left out: the limits learn the node's pace from its
// first answers).
func TestOneSlowClientKeepsTheServiceForOthers(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sl/slow") {
			time.Sleep(2 * time.Second) // the work goes on when the caller leaves, as most handlers' does
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	addrs := serviceGateway(t, "sluice", "sl", backend.URL)
	attacker, user := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	attacker.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for i := range 40 {
		wg.Go(func() {
			keepCalling(stop, attacker, fmt.Sprintf("http://%s/sl/slow/%d", addrs[0], i), 10*time.Millisecond, nil)
		})
	}
	start := time.Now()
	settled := start.Add(3 * time.Second)
	refused, late := 0, 0
	for i := 0; time.Since(start) < 10*time.Second; i++ {
		code, body := getFrom(t, user, fmt.Sprintf("http://%s/sl/fast/%d", addrs[0], i))
		if code != http.StatusOK {
			refused++
			if time.Now().After(settled) {
				late++
				t.Errorf("fast request %d, %s into the run: %d %s", i, time.Since(start).Round(time.Millisecond), code, body)
			}
		}
		time.Sleep(100 * time.Millisecond) // the other client's pace
	}
	t.Logf("the other client's requests refused: %d, %d of them once settled", refused, late)

}

// TestOnePoisoningClientEjectsNoNode: the same client and the same other
// client, against a service of three nodes, each answering 500 to the
// poisoning path. Every node fails the poisoning requests alike, so they
// say nothing of any node: with the defaults (5 consecutive faults eject
// a node, retries to other nodes) they ejected nodes again and again, up
// to the cap of half of them, and the other client's requests all went to
// what was left. No node may be ejected (selector/eject.go: a node's
// faults all of one caller, while others call, eject it only once another
// caller's call fails there too).
//
// The other client calls first. Before any other caller has called, the
// poisoning client is the service's only caller and its faults count as
// any caller's: five of its first ten requests on one node ejected it,
// which the spread of the picks made happen in about one run in forty on
// a loaded machine. That is the rule, not the case under test.
func TestOnePoisoningClientEjectsNoNode(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/pe/poison") {
			http.Error(w, "handler crashed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	var nodes []string
	for range 3 {
		backend := httptest.NewServer(handler)
		t.Cleanup(backend.Close)
		nodes = append(nodes, backend.URL)
	}
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		addrs := serviceGateway(t, srv.config, "pe", nodes...)
		s := &stack{admin: addrs[1]}
		attacker, user := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
		get := func(c *http.Client, path string) int {
			code, _ := getFrom(t, c, "http://"+addrs[0]+path)
			return code
		}
		if code := get(user, "/pe/work/first"); code != http.StatusOK {
			t.Fatalf("the other client's first request: %d, want 200", code)
		}
		for i := range 300 {
			if code := get(attacker, fmt.Sprintf("/pe/poison/%d", i)); code != http.StatusInternalServerError {
				t.Fatalf("poisoning request %d: %d, want the backend's 500", i, code)
			}
			if i%10 == 9 {
				if code := get(user, fmt.Sprintf("/pe/work/%d", i)); code != http.StatusOK {
					t.Fatalf("after %d poisoning requests, the other client got %d, want 200", i+1, code)
				}
			}
		}
		if n := metric(t, s, "sluice_upstream_ejections_total"); n != 0 {
			t.Errorf("one client's poisoning requests ejected nodes %v times, want none", n)
		}
	})
}

// TestABrokenNodeIsKeptOutAmongClients: the same two clients against three
// nodes, one of which fails every request (503, which the gateway
// retries on another node). Its faults are the
// node's, not a caller's: they come from both clients, and each client's
// calls succeed on the other nodes, so the rules that keep one caller
// from opening the breaker or ejecting nodes must not shelter it. It must
// be kept out (its penalty, then its ejection), and retries must answer
// every request.
func TestABrokenNodeIsKeptOutAmongClients(t *testing.T) {
	var nodes []string
	var brokenHits atomic.Int64
	for i := range 3 {
		broken := i == 0
		backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if broken {
				brokenHits.Add(1)
				http.Error(w, "broken", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
		}))
		t.Cleanup(backend.Close)
		nodes = append(nodes, backend.URL)
	}
	addrs := serviceGateway(t, "sluice", "bn", nodes...)
	one, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	const requests = 300
	var wg sync.WaitGroup
	for w := range 8 { // 8 at a time, two clients
		c := one
		if w%3 == 2 {
			c = other
		}
		wg.Go(func() {
			for i := w; i < requests; i += 8 {
				resp, err := c.Get(fmt.Sprintf("http://%s/bn/work/%d", addrs[0], i))
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("request %d: %d, want 200 (a retry on a sound node)", i, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("the broken node got %d of %d requests", brokenHits.Load(), requests)
	if n := brokenHits.Load(); n > requests/10 {
		t.Errorf("the broken node got %d of %d requests, want it kept out", n, requests)
	}
}

// TestOnePoisoningClientKeepsADeeperServiceForOthers: the poisoning
// client's requests reach, through a backend built on the companion
// package (budget.Inbound and an upstream.Client with its defaults), a
// service of three nodes that answers them 500. The gateway's breaker
// told the two clients apart, but the backend's client counted every call
// as its own: 20 of the client's requests opened the backend's breaker
// and the other client got 503 circuit-open from the backend. The gateway
// now names the caller in Sluice-Budget, and the backend's client tells
// callers apart by it.
func TestOnePoisoningClientKeepsADeeperServiceForOthers(t *testing.T) {
	var nodes []*registry.Node
	for range 3 {
		deep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/poison") {
				http.Error(w, "handler crashed", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "ok")
		}))
		t.Cleanup(deep.Close)
		nodes = append(nodes, &registry.Node{Service: "deep", Address: deep.Listener.Addr().String()})
	}
	reg, err := registry.NewStatic(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	client := upstream.New(reg)
	mid := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://deep"+r.URL.Path, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})))
	t.Cleanup(mid.Close)
	addrs := serviceGateway(t, "sluice", "pd", mid.URL)
	attacker, user := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	get := func(c *http.Client, path string) (int, string) { return getFrom(t, c, "http://"+addrs[0]+path) }
	if code, body := get(user, "/pd/work/first"); code != http.StatusOK {
		t.Fatalf("the other client's first request: %d %s, want 200", code, body)
	}
	refused := 0 // the poisoning requests that got no 500 of the deep service's
	for i := range 300 {
		if code, body := get(attacker, fmt.Sprintf("/pd/poison/%d", i)); code != http.StatusInternalServerError {
			if refused++; refused == 1 {
				t.Errorf("poisoning request %d: %d %s, want the deep service's 500", i, code, body)
			}
		}
		if i%10 == 9 {
			if code, body := get(user, fmt.Sprintf("/pd/work/%d", i)); code != http.StatusOK {
				t.Fatalf("after %d poisoning requests (%d refused), the other client got %d %s, want 200", i+1, refused, code, body)
			}
		}
	}
}
