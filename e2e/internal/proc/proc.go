// Package proc runs the binaries of the end-to-end suites (the gateway, the
// examples, the chaos nodes) as real processes and watches their JSON log
// lines: the one way both e2e and e2e/chaos start a process, wait for what
// it logs, signal it and see it exit.
package proc

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a running binary whose log lines are kept, each a JSON object (a
// line that is not one is kept as {"msg": "(text) LINE"}).
type Proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	// Timeout bounds every wait; generous, so that a loaded machine does
	// not fail a correct test.
	Timeout time.Duration

	mu   sync.Mutex
	logs []map[string]any
	cond chan struct{} // closed and replaced when a line arrives
	done chan struct{} // closed when the process has exited and its last line is kept
	err  error
}

// Start runs the binary bin, named name in messages, with args; setup, when
// not nil, may change the command first (its environment, say). The test's
// cleanup kills the process; a failed test shows the last lines it logged.
// The process dies with the test binary where the kernel can see to it.
func Start(t testing.TB, name, bin string, args []string, setup func(*exec.Cmd)) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, Timeout: 60 * time.Second, cond: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	tieToParent(p.cmd)
	if setup != nil {
		setup(p.cmd)
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	read := make(chan struct{})
	go func() {
		p.read(pr)
		close(read)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		<-read // Wait returns once the output is handed over, maybe before it is kept
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			lines := p.Lines()
			for _, l := range lines[max(0, len(lines)-40):] {
				b, _ := json.Marshal(l)
				t.Logf("%s: %s", name, b)
			}
		}
	})
	return p
}

func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			line = map[string]any{"msg": "(text) " + sc.Text()}
		}
		p.mu.Lock()
		p.logs = append(p.logs, line)
		close(p.cond)
		p.cond = make(chan struct{})
		p.mu.Unlock()
	}
}

// T is the test the process belongs to.
func (p *Proc) T() testing.TB { return p.t }

// Lines returns the lines logged so far.
func (p *Proc) Lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// WaitLog waits, up to Timeout, for the nth line (0 first) that match
// accepts, and returns it. The process exiting first fails the test.
func (p *Proc) WaitLog(match func(map[string]any) bool, nth int) map[string]any {
	p.t.Helper()
	deadline := time.After(p.Timeout)
	seen, n := 0, 0
	for {
		p.mu.Lock()
		for ; seen < len(p.logs); seen++ {
			if match(p.logs[seen]) {
				if n == nth {
					l := p.logs[seen]
					p.mu.Unlock()
					return l
				}
				n++
			}
		}
		cond := p.cond
		p.mu.Unlock()
		select {
		case <-cond:
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before logging what the test waits for", p.name, p.err)
		case <-deadline:
			p.t.Fatalf("%s: timed out waiting for a log line", p.name)
		}
	}
}

// WaitMsg waits for the nth line (0 first) whose msg is msg.
func (p *Proc) WaitMsg(msg string, nth int) map[string]any {
	p.t.Helper()
	return p.WaitLog(func(l map[string]any) bool { return l["msg"] == msg }, nth)
}

// Addr waits for the nth (0 first) "listening" line and returns its
// address.
func (p *Proc) Addr(nth int) string {
	p.t.Helper()
	return p.WaitMsg("listening", nth)["address"].(string)
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and its last line is kept.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits, up to Timeout, for the process to exit and returns how it
// did.
func (p *Proc) Wait() error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(p.Timeout):
		p.t.Fatalf("%s did not exit", p.name)
		return nil
	}
}

// HasMsg accepts the lines whose msg starts with prefix.
func HasMsg(prefix string) func(map[string]any) bool {
	return func(l map[string]any) bool {
		s, _ := l["msg"].(string)
		return strings.HasPrefix(s, prefix)
	}
}
