package hostile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatewayProc is a running gateway binary whose JSON log is kept for the
// failure report.
type gatewayProc struct {
	cmd       *exec.Cmd
	mu        sync.Mutex
	logs      []string
	listening chan string   // the address of each "listening" line, in order
	ready     chan struct{} // closed at the "gateway ready" line
	done      chan struct{}
}

// startGateway runs the gateway on configFile and returns it once its
// listeners are up, with their addresses in the configuration's order
// (route listeners, then admin).
func startGateway(t *testing.T, configFile string, listeners int) (*gatewayProc, []string) {
	t.Helper()
	// -pprof: the goroutines of a gateway that keeps some after the suite
	// are its failure's report (checkReleased).
	return runGateway(t, exec.Command(gatewayBin, "-config", configFile, "-access-log=false", "-pprof"), listeners)
}

// runGateway runs cmd, a gateway's command, and returns the gateway once
// its listeners are up, as startGateway does.
func runGateway(t *testing.T, cmd *exec.Cmd, listeners int) (*gatewayProc, []string) {
	t.Helper()
	g := &gatewayProc{cmd: cmd, listening: make(chan string, 8), ready: make(chan struct{}), done: make(chan struct{})}
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stderr = g.cmd.Stdout
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting the gateway: %v", err)
	}
	go g.read(out)
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
		if t.Failed() {
			g.mu.Lock()
			logs := g.logs
			if len(logs) > 100 {
				t.Logf("gateway: (the last 100 of %d log lines)", len(logs))
				logs = logs[len(logs)-100:]
			}
			for _, l := range logs {
				t.Logf("gateway: %s", l)
			}
			g.mu.Unlock()
		}
	})
	var addrs []string
	deadline := time.After(hangLimit)
	for len(addrs) < listeners {
		select {
		case a := <-g.listening:
			addrs = append(addrs, a)
		case <-g.done:
			t.Fatal("the gateway exited before listening")
		case <-deadline:
			t.Fatal("the gateway did not start listening")
		}
	}
	// Ready, its configuration watch has begun: what the gateway holds
	// from then on is what it holds idle (checkReleased).
	select {
	case <-g.ready:
	case <-g.done:
		t.Fatal("the gateway exited before it was ready")
	case <-deadline:
		t.Fatal("the gateway did not say it was ready")
	}
	return g, addrs
}

func (g *gatewayProc) read(r io.Reader) {
	defer close(g.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		g.mu.Lock()
		g.logs = append(g.logs, line)
		g.mu.Unlock()
		var l struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal([]byte(line), &l) == nil {
			switch l.Msg {
			case "listening":
				g.listening <- l.Address
			case "gateway ready":
				close(g.ready)
			}
		}
	}
	_ = g.cmd.Wait()
}

// gatewayYAML begins the configuration of a gateway of the suite's: its
// route listener on the listener server named server and its admin
// listener, both on ports the system chooses, and grace as its
// shutdown_grace. The caller writes the rest.
func gatewayYAML(b *strings.Builder, server string, grace time.Duration) {
	fmt.Fprintf(b, "listeners:\n  - {address: \"127.0.0.1:0\", server: %q}\n", server)
	fmt.Fprintf(b, "admin: {address: \"127.0.0.1:0\"}\nshutdown_grace: %s\n", grace)
}

// staticYAML writes a static registry of one node for each service and
// echo backend given, in turn (service, backend, service, backend ...).
func staticYAML(b *strings.Builder, nodes ...any) {
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for i := 0; i+1 < len(nodes); i += 2 {
		fmt.Fprintf(b, "    - {service: %s, address: %q}\n", nodes[i], strings.TrimPrefix(nodes[i+1].(*echoBackend).URL, "http://"))
	}
}

// serviceNodesYAML writes a static registry of service's nodes at addrs,
// their ids service-0, service-1, ...
func serviceNodesYAML(b *strings.Builder, service string, addrs ...string) {
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for i, a := range addrs {
		fmt.Fprintf(b, "    - {service: %s, id: %s-%d, address: %q}\n", service, service, i, a)
	}
}

// startWith writes config to a file of the test's and starts a gateway on
// it, with its two listeners (gatewayYAML): it returns the gateway and the
// addresses of its route and admin listeners.
func startWith(t *testing.T, config string) (*gatewayProc, []string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, file, 2)
}

// onEachServer runs test as a subtest per listener server, side by side.
func onEachServer(t *testing.T, test func(t *testing.T, srv listenerServer)) {
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			t.Run(srv.name, func(t *testing.T) { test(t, srv) })
		})
	}
	wg.Wait()
}

// usersYAML writes the auth provider "users" of the suite's gateways:
// HS256 tokens signed with secret (written to a file of the test's), their
// sub forwarded as X-Sluice-Subject.
func usersYAML(t *testing.T, b *strings.Builder, secret string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "hmac.secret")
	if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(b, "auth:\n  jwt:\n    users:\n      algorithms: [HS256]\n"+
		"      keys: [{id: k1, hmac_secret_file: %q}]\n      forward_claims: {sub: X-Sluice-Subject}\n", file)
}
