package consultest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/internal/testbin"
)

// StartTimeout bounds how long Start and Restart wait for a leader.
const StartTimeout = 30 * time.Second

// Agent is a Consul dev agent owned by one test. Its methods are safe for
// concurrent use and must be called from the test's goroutines, since they may
// fail the test.
type Agent struct {
	t     testing.TB
	bin   string
	dir   string
	ports ports

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

type ports struct{ http, serfLAN, server int }

// Start runs a dev agent on free 127.0.0.1 ports, in a directory under
// t.TempDir(), and waits until it has a leader. The agent is killed when the
// test ends. Start skips or fails the test as Binary does when the binary is
// missing.
func Start(t testing.TB) *Agent {
	t.Helper()
	bin := Binary(t)
	a := &Agent{t: t, bin: bin, dir: t.TempDir()}
	ps := testbin.FreePorts(t, 3) // distinct: see FreePorts
	a.ports.http, a.ports.serfLAN, a.ports.server = ps[0], ps[1], ps[2]
	t.Cleanup(func() {
		if t.Failed() {
			a.logTail()
		}
		a.stop()
	})
	a.start()
	return a
}

// Addr returns the agent's HTTP address, host:port.
func (a *Agent) Addr() string { return "127.0.0.1:" + strconv.Itoa(a.ports.http) }

// Config returns a fresh consul/api configuration pointing at the agent, with
// its own HTTP client so a test may wrap the transport.
func (a *Agent) Config() *api.Config {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = a.Addr()
	cfg.Scheme = "http"
	return cfg
}

// Client returns a consul/api client for the agent.
func (a *Agent) Client() *api.Client {
	a.t.Helper()
	c, err := api.NewClient(a.Config())
	if err != nil {
		a.t.Fatalf("consultest: client: %v", err)
	}
	return c
}

// Stop kills the agent, as a crash would, and waits for it to exit. The ports
// stay reserved for Restart in the sense that nothing else in the test uses
// them; a stopped agent refuses connections.
func (a *Agent) Stop() {
	a.t.Helper()
	a.stop()
}

// Restart starts the agent again on the same ports, after Stop, and waits for a
// leader. A dev agent keeps no state, so the catalog starts empty.
func (a *Agent) Restart() {
	a.t.Helper()
	a.stop()
	a.start()
}

func (a *Agent) start() {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	log, err := os.OpenFile(filepath.Join(a.dir, "consul.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.t.Fatalf("consultest: %v", err)
	}
	defer log.Close()
	// The flags mirror `scripts/consul.sh start`.
	cmd := exec.Command(a.bin, "agent", "-dev",
		"-bind=127.0.0.1", "-client=127.0.0.1", "-advertise=127.0.0.1",
		"-node=sluice-test",
		"-http-port="+strconv.Itoa(a.ports.http),
		"-serf-lan-port="+strconv.Itoa(a.ports.serfLAN),
		"-server-port="+strconv.Itoa(a.ports.server),
		"-serf-wan-port=-1", "-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
	)
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = log, log
	tieToParent(cmd)
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("consultest: start %s: %v", a.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	a.cmd, a.done = cmd, done
	if err := a.waitLeader(done); err != nil {
		a.logTailLocked()
		a.t.Fatalf("consultest: agent on %s: %v", a.Addr(), err)
	}
}

func (a *Agent) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.done
	a.cmd, a.done = nil, nil
}

// waitLeader polls the status endpoint until a leader is known, the process
// exits, or StartTimeout passes.
func (a *Agent) waitLeader(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	url := "http://" + a.Addr() + "/v1/status/leader"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if leader(ctx, url) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("agent exited during start")
		case <-ctx.Done():
			return fmt.Errorf("no leader after %s", StartTimeout)
		case <-tick.C:
		}
	}
}

func leader(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	s := strings.Trim(strings.TrimSpace(string(body)), `"`)
	return resp.StatusCode == http.StatusOK && s != ""
}

func (a *Agent) logTail() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logTailLocked()
}

func (a *Agent) logTailLocked() {
	b, err := os.ReadFile(filepath.Join(a.dir, "consul.log"))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	a.t.Logf("consultest: last lines of %s/consul.log:\n%s", a.dir, strings.Join(lines, "\n"))
}
