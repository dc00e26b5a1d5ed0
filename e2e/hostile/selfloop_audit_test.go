package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/testbin"
)

// metricSum sums the samples of metric in the gateway's /metrics.
func metricSum(t *testing.T, admin, metric string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, metric+"{") || strings.HasPrefix(l, metric+" ") {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			sum += v
		}
	}
	return sum
}

// TestAuditSelfLoop: a node of a service whose address is the gateway's
// own listener (a registration with a wrong address, or a hostile one) is
// a request loop. The gateway ignored a client's hop count, so nothing
// stopped the loop but the budget, which shrinks by the margin and the time
// spent at each turn, and the node's connection pool
// (upstream.DefaultMaxConnsPerNode, 256): one client request became 257
// requests to the gateway (256 connections dialled to itself and as many
// accepted, every connection the service may have), held until it was
// answered 504 budget-spent after 4.6 s of its 5 s budget. The gateway now
// continues the hop a request names, and the turn that reaches
// budget.MaxChain is refused 508 loop-detected, which each turn before it
// passes back: MaxChain+1 requests, answered at once. The test also
// checks that the gateway holds no request afterwards.
func TestAuditSelfLoop(t *testing.T) {
	port := testbin.FreePorts(t, 1)[0]
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var b strings.Builder
	fmt.Fprintf(&b, "listeners:\n  - {address: %q}\n", addr)
	b.WriteString("admin: {address: \"127.0.0.1:0\"}\nshutdown_grace: 1s\n")
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: self, address: %q}\n", addr)
	b.WriteString("routes:\n  - {path: /loop/*, service: self}\n")
	_, addrs := startWith(t, b.String())
	before := metricSum(t, addrs[1], "sluice_requests_total")
	start := time.Now()
	resp, err := http.Get("http://" + addr + "/loop/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	deadline := time.Now().Add(hangLimit)
	for metricSum(t, addrs[1], "sluice_requests_in_flight") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still serves %v requests of the loop", metricSum(t, addrs[1], "sluice_requests_in_flight"))
		}
		time.Sleep(50 * time.Millisecond) // polls the gateway's gauge
	}
	served := metricSum(t, addrs[1], "sluice_requests_total") - before
	t.Logf("one request through a self-loop: %d after %v (%s); the gateway served %v requests for it",
		resp.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(string(body)), served)
	if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(string(body), "loop-detected") {
		t.Errorf("status %d %s, want the loop to end in 508 loop-detected", resp.StatusCode, body)
	}
	if served > budget.MaxChain+1 {
		t.Errorf("the gateway served %v requests for one, want at most %d", served, budget.MaxChain+1)
	}
}
