package chaos

import (
	"bufio"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a running binary whose JSON log lines are kept.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any
	cond chan struct{} // closed and replaced when a line arrives
	done chan struct{} // closed when the process has exited and its last line is in logs
	err  error
}

// start runs binary name with args; the test's cleanup kills it. A failed
// test shows the last lines it logged.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cond: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	tieToParent(p.cmd)
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
		<-read
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			from := max(0, len(p.logs)-20)
			for _, l := range p.logs[from:] {
				b, _ := json.Marshal(l)
				t.Logf("%s: %s", name, b)
			}
			p.mu.Unlock()
		}
	})
	return p
}

func (p *proc) read(r io.Reader) {
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

// waitMsg waits, up to a generous deadline, for the nth line (0 first) whose
// msg is msg, and returns it.
func (p *proc) waitMsg(msg string, nth int) map[string]any {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	seen, n := 0, 0
	for {
		p.mu.Lock()
		for ; seen < len(p.logs); seen++ {
			if p.logs[seen]["msg"] == msg {
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
			p.t.Fatalf("%s exited (%v) before logging %q", p.name, p.err, msg)
		case <-deadline:
			p.t.Fatalf("%s: timed out waiting for %q", p.name, msg)
		}
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// wait waits, up to a generous deadline, for the process to exit.
func (p *proc) wait() error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(60 * time.Second):
		p.t.Fatalf("%s did not exit", p.name)
		return nil
	}
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
