package chaos

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	eproc "github.com/sluicehq/sluice/e2e/internal/proc"
)

// proc is a running binary whose JSON log lines are kept
// (e2e/internal/proc, shared with the e2e suite).
type proc struct{ *eproc.Proc }

// start runs binary name with args; the test's cleanup kills it. A failed
// test shows the last lines it logged.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return &proc{eproc.Start(t, name, filepath.Join(binDir, name), args, nil)}
}

// waitMsg waits, up to a generous deadline, for the nth line (0 first) whose
// msg is msg, and returns it.
func (p *proc) waitMsg(msg string, nth int) map[string]any {
	p.T().Helper()
	return p.WaitMsg(msg, nth)
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.T().Helper()
	p.Signal(sig)
}

// wait waits, up to a generous deadline, for the process to exit.
func (p *proc) wait() error {
	p.T().Helper()
	return p.Wait()
}

// atNs reads the at_ns member of a chaosnode log line.
func atNs(t *testing.T, l map[string]any) time.Time {
	t.Helper()
	ns, ok := l["at_ns"].(float64)
	if !ok {
		t.Fatalf("log line %v has no at_ns", l)
	}
	return time.Unix(0, int64(ns))
}
