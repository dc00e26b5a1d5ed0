package hostile

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// One node of four that cannot be reached, with the gateway's defaults:
// "one slow or failing node costs one request its budget, never the
// service". Each case puts one unreachable node beside three healthy ones
// of a service and sends the service a run of requests through the real
// gateway: a connect that hangs (a listener whose accept queue is full),
// a refused connection, a connection reset as soon as it is accepted, one
// accepted and never answered, and a node down when the gateway starts
// that comes back. Each run lasts until the node has drawn a few
// attempts, and must keep every request answered (the silent node's
// first ones aside), send no retry back to the node, and leave the
// service's breaker closed.

// healthyNodes starts n backends that answer 200 with their name.
func healthyNodes(t *testing.T, n int) []string {
	t.Helper()
	var urls []string
	for i := range n {
		name := fmt.Sprintf("healthy-%d", i)
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		urls = append(urls, strings.TrimPrefix(s.URL, "http://"))
	}
	return urls
}

// boundSocket returns a TCP socket bound to a free loopback port, not
// listening: a connection to it is refused, and the port stays reserved
// for the test (no other program can take it meanwhile).
func boundSocket(t *testing.T) (fd int, addr string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	return fd, fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// listenOn makes the bound socket fd listen with backlog and returns it as
// a net.Listener (which holds a copy of fd; fd itself is closed), closed
// when the test ends.
func listenOn(t *testing.T, fd, backlog int) net.Listener {
	t.Helper()
	if err := syscall.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// refusingNode returns the address of a port nobody listens on.
func refusingNode(t *testing.T) string {
	t.Helper()
	fd, addr := boundSocket(t)
	t.Cleanup(func() { syscall.Close(fd) })
	return addr
}

// hangingConnectNode returns the address of a listener with a full accept
// queue that never accepts: Linux drops further SYNs, so a connect hangs
// (until the dialer gives up; the SYN is sent again after 1 s, 3 s, ...).
// It skips the test when a connect does not hang on this machine.
func hangingConnectNode(t *testing.T) string {
	t.Helper()
	fd, addr := boundSocket(t)
	listenOn(t, fd, 0) // a queue of one connection, never accepted
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	// Fill the queue, then check that one more connect hangs.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Skipf("a connect to a full accept queue fails (%v) instead of hanging", err)
		}
		held = append(held, c)
	}
	t.Skip("a connect to a full accept queue does not hang on this machine")
	return ""
}

// acceptingNode returns the address of a listener that accepts every
// connection and hands it to serve, and the count of connections accepted.
func acceptingNode(t *testing.T, serve func(c *net.TCPConn)) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			serve(c.(*net.TCPConn))
		}
	}()
	return l.Addr().String(), &n
}

// resettingNode accepts each connection and resets it at once (a close
// with SO_LINGER 0 sends RST), having read nothing.
func resettingNode(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	return acceptingNode(t, func(c *net.TCPConn) {
		c.SetLinger(0)
		c.Close()
	})
}

// silentNode accepts each connection and never reads or answers.
func silentNode(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return acceptingNode(t, func(c *net.TCPConn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	})
}

// unreachableGuard bounds each run of requests: a hang guard, far above
// what any run takes.
const unreachableGuard = 90 * time.Second

// unreachableGateway starts a gateway with the defaults and, for the
// service name on nodes (host:port), a GET route /name/* and a POST route
// /name-post/*: the addresses of its route and admin listeners.
func unreachableGateway(t *testing.T, name string, nodes ...string) (gw, admin string) {
	t.Helper()
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	serviceNodesYAML(&b, name, nodes...)
	fmt.Fprintf(&b, "routes:\n  - {name: %s, method: GET, path: /%s/*, service: %s}\n", name, name, name)
	fmt.Fprintf(&b, "  - {name: %s-post, method: POST, path: /%s-post/*, service: %s}\n", name, name, name)
	_, addrs := startWith(t, b.String())
	return addrs[0], addrs[1]
}

// loadRun is what a run of requests through the gateway saw.
type loadRun struct {
	mu       sync.Mutex
	total    int
	failures []string       // each failed request, as "METHOD path: status body"
	byNode   map[string]int // the 200s, by the node that answered
}

func (r *loadRun) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d requests, %d failed, 200s by node %v", r.total, len(r.failures), r.byNode)
}

// failed returns how many requests failed, and the first few.
func (r *loadRun) failed() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failures), r.failures[:min(len(r.failures), 5)]
}

func (r *loadRun) done() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func (r *loadRun) answeredBy(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byNode[node]
}

// runLoad has one client per path call gw (GET, or POST with a small body
// for a /name-post/ path) over and over until until reports true of the
// run so far (polled every 20 ms), and returns what they saw. It fails the test if that takes
// unreachableGuard.
func runLoad(t *testing.T, gw string, paths []string, until func(run *loadRun) bool) *loadRun {
	t.Helper()
	run := &loadRun{byNode: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, path := range paths {
		c := &http.Client{Timeout: hangLimit}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				run.one(t, c, gw, fmt.Sprintf("%s%d", path, i))
				time.Sleep(clientPace)
			}
		})
	}
	deadline := time.Now().Add(unreachableGuard)
	for !until(run) {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("the run did not end within %v: %v", unreachableGuard, run)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
	close(stop)
	wg.Wait()
	return run
}

// one sends one request and records its answer.
func (r *loadRun) one(t *testing.T, c *http.Client, gw, path string) {
	method, body := http.MethodGet, io.Reader(nil)
	if strings.Contains(path, "-post/") {
		method, body = http.MethodPost, strings.NewReader("payload")
	}
	req, err := http.NewRequest(method, "http://"+gw+path, body)
	if err != nil {
		t.Error(err)
		return
	}
	resp, err := c.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("%s %s: %v", method, path, err))
		return
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.failures = append(r.failures, fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, got))
		return
	}
	r.byNode[string(got)]++
}

// attemptCounts are the gateway's attempts on a service, by outcome and
// kind ("first" or "retry"), from sluice_upstream_attempts_total.
type attemptCounts map[[2]string]int

// unreached counts the attempts of kind (any kind when empty) that got no
// answer: not sent, failed or abandoned. The healthy nodes answer every
// request, so these are all the unreachable node's.
func (a attemptCounts) unreached(kind string) int {
	n := 0
	for k, v := range a {
		if k[0] != "success" && k[0] != "rejected" && (kind == "" || k[1] == kind) {
			n += v
		}
	}
	return n
}

// outcome counts the attempts with outcome, of any kind.
func (a attemptCounts) outcome(o string) int {
	return a[[2]string{o, "first"}] + a[[2]string{o, "retry"}] + a[[2]string{o, "hedge"}]
}

// attemptsOf returns the gateway's attempts on service so far, from the
// admin listener's /metrics.
func attemptsOf(t *testing.T, admin, service string) attemptCounts {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	out := attemptCounts{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "sluice_upstream_attempts_total{") || !strings.Contains(line, `service="`+service+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[[2]string{labelOf(line, "outcome"), labelOf(line, "kind")}] += int(v)
	}
	return out
}

// labelOf returns the value of label in a metric's sample line.
func labelOf(line, label string) string {
	_, rest, _ := strings.Cut(line, label+`="`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// upstreamOf returns the state of service's breaker ("none" before its
// first call) and the nodes ejected now, with their time left, from the
// admin listener.
func upstreamOf(t *testing.T, admin, service string) (breaker string, ejected []string) {
	t.Helper()
	st := upstreamAt(t, admin)
	breaker = "none"
	for _, b := range st.Breakers {
		if b.Service == service {
			breaker = b.State
		}
	}
	for _, e := range st.Ejections {
		ejected = append(ejected, fmt.Sprintf("%s for %v more", e.Node, time.Until(e.Until).Round(time.Millisecond)))
	}
	return breaker, ejected
}

// checkServiceKept checks what a run through the gateway to service, one
// of whose four nodes is unreachable, must have kept: every request
// answered by a healthy node, no retry sent to the unreachable node (a
// retry goes to a node the call has not tried), and the service's breaker
// closed. It logs the numbers.
func checkServiceKept(t *testing.T, admin, service string, run *loadRun, before attemptCounts) attemptCounts {
	t.Helper()
	after := attemptsOf(t, admin, service)
	breaker, ejected := upstreamOf(t, admin, service)
	t.Logf("%v; attempts %v; breaker %s; ejected %v", run, after, breaker, ejected)
	if n, some := run.failed(); n > 0 {
		t.Errorf("%d of %d requests failed, with one node of four unreachable: %q", n, run.total, some)
	}
	if n := after.unreached("retry") - before.unreached("retry"); n > 0 {
		t.Errorf("%d retries went to the unreachable node again, want each to a node its call had not tried", n)
	}
	if breaker != "closed" {
		t.Errorf("the service's breaker is %s: one unreachable node of four opened it for the whole service", breaker)
	}
	return after
}

// unreachablePaths are the paths of the runs' clients, two GETs and two
// POSTs at once.
var unreachablePaths = []string{"/un/a", "/un/b", "/un-post/c", "/un-post/d"}

// TestUnreachableNodeConnectHangs: a node whose connect hangs (its accept
// queue full). A connect that never completed sent nothing, so an attempt
// that waits on one is safe to retry on another node, whatever its method:
// no request may fail. Without a connect timeout, every POST (which gets
// no per-try timeout) and every GET before the service's first 20 answers
// that went to the node waited for the connect until its budget ended,
// and was answered 504: 2 POSTs every 5 s, for as long as the node hung
// (spent budgets are nobody's fault, so the node was never ejected).
func TestUnreachableNodeConnectHangs(t *testing.T) {
	bad := hangingConnectNode(t)
	gw, admin := unreachableGateway(t, "un", append(healthyNodes(t, 3), bad)...)
	before := attemptsOf(t, admin, "un")
	// Until the node has drawn three attempts (each waits on its connect).
	run := runLoad(t, gw, unreachablePaths, func(*loadRun) bool { return attemptsOf(t, admin, "un").unreached("") >= 3 })
	after := checkServiceKept(t, admin, "un", run, before)
	if n := after.outcome("abandoned"); n > 0 {
		t.Errorf("%d attempts waited on the node's connect until their request's budget ended", n)
	}
}

// TestUnreachableNodeRefuses: a node nobody listens on. A refused connect
// is retried on another node for any method, and the node, known dead, is
// left out but for one probe per 250 ms: no request fails.
func TestUnreachableNodeRefuses(t *testing.T) {
	gw, admin := unreachableGateway(t, "un", append(healthyNodes(t, 3), refusingNode(t))...)
	before := attemptsOf(t, admin, "un")
	run := runLoad(t, gw, unreachablePaths, func(*loadRun) bool { return attemptsOf(t, admin, "un").unreached("") >= 10 })
	after := checkServiceKept(t, admin, "un", run, before)
	if n := after.unreached("") - after.outcome("not_sent"); n > 0 {
		t.Errorf("%d attempts on the refusing node counted as sent, want every one not sent", n)
	}
}

// TestUnreachableNodeResets: a node that accepts each connection and
// resets it at once. The request may have been sent, so only idempotent
// requests are retried: every GET is answered; the node draws a fault
// each time, and less and less traffic.
func TestUnreachableNodeResets(t *testing.T) {
	bad, accepted := resettingNode(t)
	gw, admin := unreachableGateway(t, "un", append(healthyNodes(t, 3), bad)...)
	before := attemptsOf(t, admin, "un")
	run := runLoad(t, gw, []string{"/un/a", "/un/b", "/un/c", "/un/d"},
		func(*loadRun) bool { return attemptsOf(t, admin, "un").unreached("") >= 3 })
	checkServiceKept(t, admin, "un", run, before)
	t.Logf("the node accepted %d connections", accepted.Load())
}

// TestUnreachableNodeSilent: a node that accepts connections and never
// reads or answers. A GET sent there is cut by the per-try timeout once
// the service has given 20 answers (before, it waits for its budget: the
// first run's failures are logged, not held against the gateway; the
// promise is that one such node costs a request its budget), and retried
// on another node: after the first 40 requests, no GET fails.
func TestUnreachableNodeSilent(t *testing.T) {
	bad, accepted := silentNode(t)
	gw, admin := unreachableGateway(t, "un", append(healthyNodes(t, 3), bad)...)
	warm := runLoad(t, gw, []string{"/un/w", "/un/x", "/un/y", "/un/z"}, func(r *loadRun) bool { return r.done() >= 40 })
	n, some := warm.failed()
	t.Logf("warming up: %v; %d failed %q", warm, n, some)
	before := attemptsOf(t, admin, "un")
	run := runLoad(t, gw, []string{"/un/a", "/un/b", "/un/c", "/un/d"},
		func(*loadRun) bool { return attemptsOf(t, admin, "un").unreached("")-before.unreached("") >= 3 })
	after := checkServiceKept(t, admin, "un", run, before)
	if n := after.outcome("abandoned") - before.outcome("abandoned"); n > 0 {
		t.Errorf("%d GETs waited on the silent node until their budget ended, after the per-try timeout was derived", n)
	}
	t.Logf("the node accepted %d connections", accepted.Load())
}

// TestUnreachableNodeSilentToPosts: the silent node of
// TestUnreachableNodeSilent, with POSTs only. A POST gets no per-try
// timeout (it could not be retried), so each one sent there waits out its
// budget; that was nobody's fault, and the node was never ejected: it
// kept costing a POST its budget every few seconds, for good. A node that
// answers nothing, to anyone, for a second and more counts a fault
// (upstream/limit_silent.go), and is ejected as faults make any node.
func TestUnreachableNodeSilentToPosts(t *testing.T) {
	bad, _ := silentNode(t)
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for i, a := range append(healthyNodes(t, 3), bad) {
		fmt.Fprintf(&b, "    - {service: un, id: un-%d, address: %q}\n", i, a)
	}
	// A budget of 1.5 s, for the test's pace: each POST sent to the node
	// waits it out.
	b.WriteString("routes:\n  - {name: un-post, method: POST, path: /un-post/*, service: un, budget: {timeout: 1500ms}}\n")
	_, addrs := startWith(t, b.String())
	gw, admin := addrs[0], addrs[1]
	run := runLoad(t, gw, []string{"/un-post/a", "/un-post/b", "/un-post/c", "/un-post/d"}, func(*loadRun) bool {
		_, ejected := upstreamOf(t, admin, "un")
		return slices.ContainsFunc(ejected, func(e string) bool { return strings.Contains(e, bad) })
	})
	n, some := run.failed()
	t.Logf("the silent node was ejected after %v; %d failed %q", run, n, some)
}

// TestUnreachableNodeComesBack: a node down when the gateway starts (its
// connections refused) that comes up later gets traffic again, and no
// request fails meanwhile.
func TestUnreachableNodeComesBack(t *testing.T) {
	fd, addr := boundSocket(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			syscall.Close(fd)
		}
	})
	gw, admin := unreachableGateway(t, "un", append(healthyNodes(t, 3), addr)...)
	before := attemptsOf(t, admin, "un")
	down := runLoad(t, gw, unreachablePaths, func(*loadRun) bool { return attemptsOf(t, admin, "un").unreached("") >= 4 })
	checkServiceKept(t, admin, "un", down, before)

	l := listenOn(t, fd, 128)
	closed = true
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "back")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	before = attemptsOf(t, admin, "un")
	up := runLoad(t, gw, unreachablePaths, func(r *loadRun) bool { return r.answeredBy("back") >= 20 })
	checkServiceKept(t, admin, "un", up, before)
}
