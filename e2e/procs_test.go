package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	eproc "github.com/sluicehq/sluice/e2e/internal/proc"
)

// binDir holds the binaries TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"../cmd/gateway", "../examples/greeter", "../examples/orders", "../examples/inventory", "../examples/pricing")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running binary whose JSON log lines are watched
// (e2e/internal/proc, shared with the chaos suite).
type proc struct{ *eproc.Proc }

// start runs binary name with args and stops it when the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := eproc.Start(t, name, filepath.Join(binDir, name), args, nil)
	p.Timeout = 30 * time.Second
	return &proc{p}
}

// waitLog waits, up to a deadline, for a log line that match accepts, and
// returns it.
func (p *proc) waitLog(match func(map[string]any) bool) map[string]any {
	p.T().Helper()
	return p.WaitLog(match, 0)
}

// addr waits for the process's "listening" line and returns its address.
// With several listeners, nth picks one (0 first).
func (p *proc) addr(nth int) string {
	p.T().Helper()
	return p.Addr(nth)
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.T().Helper()
	p.Signal(sig)
}

// wait waits, up to a deadline, for the process to exit and returns its error.
func (p *proc) wait() error {
	p.T().Helper()
	return p.Wait()
}

func hasMsg(prefix string) func(map[string]any) bool { return eproc.HasMsg(prefix) }
