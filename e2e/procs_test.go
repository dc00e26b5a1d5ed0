package e2e

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
	"syscall"
	"testing"
	"time"
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

// proc is a running binary whose JSON log lines are watched.
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

// start runs binary name with args and stops it when the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cond: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
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
		<-read // Wait returns once the output is handed over, maybe before it is logged
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			for _, l := range p.logs {
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

// waitLog waits, up to a deadline, for a log line that match accepts, and
// returns it.
func (p *proc) waitLog(match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.logs); seen++ {
			if match(p.logs[seen]) {
				l := p.logs[seen]
				p.mu.Unlock()
				return l
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

// addr waits for the process's "listening" line and returns its address.
// With several listeners, nth picks one (0 first).
func (p *proc) addr(nth int) string {
	p.t.Helper()
	n := 0
	l := p.waitLog(func(l map[string]any) bool {
		if l["msg"] != "listening" {
			return false
		}
		n++
		return n > nth
	})
	return l["address"].(string)
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// wait waits, up to a deadline, for the process to exit and returns its error.
func (p *proc) wait() error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not exit", p.name)
		return nil
	}
}

func hasMsg(prefix string) func(map[string]any) bool {
	return func(l map[string]any) bool {
		s, _ := l["msg"].(string)
		return strings.HasPrefix(s, prefix)
	}
}
