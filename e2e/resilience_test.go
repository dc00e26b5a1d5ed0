package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// gatewayOver starts the gateway with a static registry of greeter nodes
// (address → version) and extra YAML, routing GET /greeter/* to them.
func gatewayOver(t *testing.T, nodes map[string]string, extra string) (*proc, string) {
	t.Helper()
	var static strings.Builder
	for addr, version := range nodes {
		fmt.Fprintf(&static, "    - {service: greeter, address: %s, version: %s}\n", addr, version)
	}
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, file, `
listeners: [{address: 127.0.0.1:0}]
admin: {address: 127.0.0.1:0}
registry:
  kind: static
  static:
`+static.String()+extra+`
routes:
  - {name: hello, method: GET, path: /greeter/*, service: greeter, rewrite: /}
`)
	gw := start(t, "gateway", "-config", file, "-access-log=false")
	base := "http://" + gw.addr(0)
	return gw, base
}

// syncMarks numbers the requests failures sends to a greeter itself.
var syncMarks atomic.Int64

// failures counts the requests a greeter started with -fail has failed,
// once every line it wrote before the call has been read. Its lines reach
// the test through a pipe and a reader goroutine, so a count taken as soon
// as the gateway answered could miss the last failure's line (it did, on a
// loaded machine: "1 attempts reached the nodes while the breaker was
// open"). So it first sends the greeter a request of its own, which fails
// too, and waits for that line: the greeter logs a failure before it
// answers, so every failure the gateway saw was logged before it.
func failures(t *testing.T, p *proc) int {
	t.Helper()
	mark := fmt.Sprintf("/hello/sync-%d", syncMarks.Add(1))
	resp, err := http.Get("http://" + p.addr(0) + mark)
	if err != nil {
		t.Fatalf("the greeter's own request: %v", err)
	}
	resp.Body.Close()
	p.waitLog(func(l map[string]any) bool { return l["msg"] == "failing on purpose" && l["path"] == mark })
	n := 0
	for _, l := range p.Lines() {
		if path, _ := l["path"].(string); l["msg"] == "failing on purpose" && !strings.HasPrefix(path, "/hello/sync-") {
			n++
		}
	}
	return n
}

func TestAFailingNodeIsEjectedWithNoClientErrors(t *testing.T) {
	bad := start(t, "greeter", "-listen", "127.0.0.1:0", "-fail")
	nodes := map[string]string{bad.addr(0): "1.0.0"}
	for i := 0; i < 2; i++ {
		nodes[start(t, "greeter", "-listen", "127.0.0.1:0").addr(0)] = "1.0.0"
	}
	gwp, gw := gatewayOver(t, nodes, "")
	for i := 0; i < 300; i++ {
		if r := get(t, gw+"/greeter/hello/Ada"); r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s: a client saw the failing node", i, r.status, r.body)
		}
	}
	// Its first failure weighs on its load, so least-loaded selection
	// avoids it; if it is still picked, 5 consecutive faults eject it.
	n := failures(t, bad)
	if n < 1 || n > 5 {
		t.Fatalf("the failing node got %d requests, want 1 to 5", n)
	}
	if n < 5 {
		return
	}
	var admin struct {
		Ejections []struct {
			Node string `json:"node"`
		} `json:"ejections"`
	}
	get(t, "http://"+gwp.addr(1)+"/admin/upstream").decode(t, &admin)
	if len(admin.Ejections) != 1 || !strings.HasSuffix(admin.Ejections[0].Node, "@"+bad.addr(0)) {
		t.Fatalf("/admin/upstream ejections = %+v, want the failing node", admin.Ejections)
	}
}

func TestABreakerOpensOnADeadServiceAndSendsNothing(t *testing.T) {
	a := start(t, "greeter", "-listen", "127.0.0.1:0", "-fail")
	b := start(t, "greeter", "-listen", "127.0.0.1:0", "-fail")
	gwp, gw := gatewayOver(t, map[string]string{a.addr(0): "1.0.0", b.addr(0): "1.0.0"},
		"upstream: {breaker: {min_calls: 5, open_for: 1h}}\n")
	opened := false
	for i := 0; i < 50 && !opened; i++ {
		r := get(t, gw+"/greeter/hello/Ada")
		opened = r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), "circuit-open")
	}
	if !opened {
		t.Fatal("the breaker never opened on a service whose every node fails")
	}
	before := failures(t, a) + failures(t, b)
	for i := 0; i < 20; i++ {
		get(t, gw+"/greeter/hello/Ada").wantProblem(t, http.StatusServiceUnavailable, "urn:sluice:problem:circuit-open")
	}
	if after := failures(t, a) + failures(t, b); after != before {
		t.Fatalf("%d attempts reached the nodes while the breaker was open", after-before)
	}
	admin := "http://" + gwp.addr(1)
	var st struct {
		Breakers []struct {
			Service, State string
		} `json:"breakers"`
	}
	get(t, admin+"/admin/upstream").decode(t, &st)
	if len(st.Breakers) != 1 || st.Breakers[0].State != "open" {
		t.Fatalf("/admin/upstream breakers = %+v, want greeter open", st.Breakers)
	}
}

func TestACanaryGetsItsShareOfTraffic(t *testing.T) {
	canary := start(t, "greeter", "-listen", "127.0.0.1:0").addr(0)
	nodes := map[string]string{canary: "2.1.0"}
	for i := 0; i < 3; i++ {
		nodes[start(t, "greeter", "-listen", "127.0.0.1:0").addr(0)] = "2.0.3"
	}
	_, gw := gatewayOver(t, nodes, "services:\n  greeter:\n    canary: [{version: 2.1.0, weight: 0.05}]\n")
	const total, workers = 20000, 8
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := 0; i < total/workers; i++ {
				resp, err := client.Get(gw + "/greeter/hello/Ada")
				if err != nil {
					t.Error(err)
					return
				}
				var got struct {
					Budget budgetReport `json:"budget"`
				}
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("status %d, %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				counts[got.Budget.Node]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	share := float64(counts[canary]) / total
	t.Logf("canary share %.4f of %d requests (%v)", share, total, counts)
	if share < 0.04 || share > 0.06 {
		t.Fatalf("the 5%% canary got %.2f%% of requests, want 5%% ± 1%%", share*100)
	}
}
