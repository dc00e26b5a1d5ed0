//go:build linux

package e2e

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
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry/consul/consultest"

	"github.com/sluicehq/sluice/internal/testbin"
)

// consulServer is one server of a consulCluster.
type consulServer struct {
	name                string
	dir                 string
	http, serf, rpcPort int
	cmd                 *exec.Cmd
	done                chan struct{}
}

// Addr is the server's HTTP API, host:port.
func (s *consulServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.http) }

// Client returns a consul/api client of the server.
func (s *consulServer) Client(t *testing.T) *api.Client {
	t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = s.Addr()
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// consulCluster is n Consul servers on loopback, each on its own ports
// (one address: every port differs, or is disabled: DNS, gRPC, gRPC TLS and
// Serf WAN are), joined to each other.
type consulCluster struct {
	t       *testing.T
	servers []*consulServer
}

// raftMultiplier is the cluster tests' Consul performance.raft_multiplier:
// 1 (Consul's recommendation for production servers; elections in about a
// second) unless SLUICE_CONSUL_RAFT_MULTIPLIER says otherwise (5, Consul's
// default, elects in over ten seconds).
func raftMultiplier(t *testing.T) int {
	if s := os.Getenv("SLUICE_CONSUL_RAFT_MULTIPLIER"); s != "" {
		m, err := strconv.Atoi(s)
		if err != nil || m < 1 || m > 10 {
			t.Fatalf("SLUICE_CONSUL_RAFT_MULTIPLIER=%q: want 1 to 10", s)
		}
		return m
	}
	return 1
}

// startConsulCluster starts n servers expecting each other and waits until
// they have a leader and n voters.
func startConsulCluster(t *testing.T, n, multiplier int) *consulCluster {
	t.Helper()
	bin := consultest.Binary(t)
	c := &consulCluster{t: t}
	ps := testbin.FreePorts(t, 3*n) // all distinct
	for i := range n {
		s := &consulServer{name: fmt.Sprintf("sluice-server-%d", i), dir: t.TempDir()}
		s.http, s.serf, s.rpcPort = ps[3*i], ps[3*i+1], ps[3*i+2]
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		args := []string{"agent", "-server", "-bootstrap-expect=" + strconv.Itoa(n),
			"-node=" + s.name, "-data-dir=" + filepath.Join(s.dir, "data"),
			"-bind=127.0.0.1", "-advertise=127.0.0.1", "-client=127.0.0.1",
			"-http-port=" + strconv.Itoa(s.http), "-serf-lan-port=" + strconv.Itoa(s.serf),
			"-server-port=" + strconv.Itoa(s.rpcPort),
			"-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1", "-serf-wan-port=-1",
			"-hcl", fmt.Sprintf("performance { raft_multiplier = %d }", multiplier),
			"-log-level=info",
		}
		for _, o := range c.servers {
			if o != s {
				args = append(args, "-retry-join=127.0.0.1:"+strconv.Itoa(o.serf))
			}
		}
		log, err := os.Create(filepath.Join(s.dir, "consul.log"))
		if err != nil {
			t.Fatal(err)
		}
		s.cmd = exec.Command(bin, args...)
		s.cmd.Stdout, s.cmd.Stderr = log, log
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		log.Close()
		s.done = make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(s.done) }()
		t.Cleanup(func() {
			_ = s.cmd.Process.Kill()
			<-s.done
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(s.dir, "consul.log"))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("%s: last lines of its log:\n%s", s.name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		})
	}
	eventually(t, "a leader and "+strconv.Itoa(n)+" voters", 60*time.Second, func() bool {
		for _, s := range c.servers {
			if leader, _ := statusOf(s, "leader"); leader == "" {
				return false
			}
			if peers, _ := statusOf(s, "peers"); strings.Count(peers, ",")+1 != n {
				return false
			}
		}
		return true
	})
	return c
}

// statusOf reads /v1/status/leader or /v1/status/peers of s, unquoted ("" on
// errors).
func statusOf(s *consulServer, what string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr()+"/v1/status/"+what, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.Trim(strings.TrimSpace(string(b)), `"[]`), err
}

// leader returns the server that leads now, as s sees it; nil when none.
func (c *consulCluster) leader(from *consulServer) *consulServer {
	addr, _ := statusOf(from, "leader")
	for _, s := range c.servers {
		if addr == "127.0.0.1:"+strconv.Itoa(s.rpcPort) {
			return s
		}
	}
	return nil
}

// kill SIGKILLs s and waits for it to exit.
func (s *consulServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
}
