// Package redistest runs a real redis-server on loopback for tests: a
// private process on a free port, without persistence, that a test can
// stop (SIGSTOP) and continue (SIGCONT) to play a Redis that hangs.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbin"
)

// EnvBinary names the variable scripts/test.sh sets to the redis-server
// binary; when it (or CI) is set, a missing binary fails the test instead
// of skipping it.
const EnvBinary = "SLUICE_REDIS_SERVER"

// Server is a running redis-server.
type Server struct {
	// Addr is its host:port on loopback.
	Addr string
	cmd  *exec.Cmd
}

// redisServer is Debian's redis-server, which scripts/test.sh installs when
// missing and names in EnvBinary.
var redisServer = testbin.Program{
	Name: "redis-server",
	Env:  EnvBinary,
	Hint: "install Debian's redis-server (apt-get install redis-server), as scripts/test.sh does",
}

// Binary returns the redis-server to run: $SLUICE_REDIS_SERVER, or
// redis-server from PATH. When there is none it fails the test under
// scripts/test.sh or CI, and skips it otherwise (see package testbin).
func Binary(t testing.TB) string {
	t.Helper()
	return redisServer.Find(t)
}

// Start starts a redis-server on a free loopback port, waits until it
// answers PING, and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	var lastErr error
	for range 5 {
		port := testbin.FreePorts(t, 1)[0]
		s, err := start(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return s
		}
		lastErr = err // the port was taken meanwhile, most likely: another one
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// StartAt starts a redis-server on addr (a loopback host:port), as Start
// does.
func StartAt(t testing.TB, addr string) *Server {
	t.Helper()
	s, err := start(t, addr)
	if err != nil {
		t.Fatalf("redis-server did not start: %v", err)
	}
	return s
}

func start(t testing.TB, addr string) (*Server, error) {
	t.Helper()
	bin := Binary(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: addr}
	s.cmd = exec.Command(bin, "--port", port, "--bind", host,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--enable-debug-command", "local") // DEBUG SLEEP plays a slow Redis
	s.cmd.Dir = t.TempDir()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	if err := waitPing(s.Addr, exited, 10*time.Second); err != nil {
		_ = s.cmd.Process.Kill()
		<-exited
		return nil, err
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		_ = s.cmd.Process.Kill()
		<-exited
	})
	return s, nil
}

// Pause stops the process (SIGSTOP): it keeps its port and connections but
// answers nothing, as a hung or partitioned Redis would.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// Do sends one command (inline protocol) and returns the first line of the
// reply, for tests that look at keys without a client library.
func (s *Server) Do(t testing.TB, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(line, "\r\n")
}

// waitPing waits until addr answers PING with PONG, the process exits, or
// the timeout passes.
func waitPing(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited", addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer PING within %v", addr, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not hoping
	}
}
