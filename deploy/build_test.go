package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbin"
)

// shellWords splits a RUN line as sh would for the simple words the
// build command uses: blanks separate, quotes group.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, c := range s {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("$`\\;&|<>()", c):
			t.Fatalf("the build command %q uses %q: keep it to plain words so that this test runs it as the image does", s, c)
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// gatewayBuild returns the environment and the go build arguments of the
// Dockerfile's RUN that builds ./cmd/gateway.
func gatewayBuild(t *testing.T) (env, args []string) {
	t.Helper()
	var found []instruction
	for _, st := range parseDockerfile(t, "../Dockerfile") {
		for _, in := range st.find("RUN") {
			if strings.Contains(in.args, "go build") && strings.HasSuffix(in.args, " ./cmd/gateway") {
				found = append(found, in)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d RUN instructions build ./cmd/gateway, want 1", len(found))
	}
	words := shellWords(t, found[0].args)
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("RUN %s: want [VAR=value ...] go build ...", found[0].args)
	}
	return env, words[2:]
}

// TestImageBinary builds the gateway with the Dockerfile's own command
// (its output moved to a temporary directory), checks that it is static
// and trimmed as the image needs, then runs it as the image does: the
// embedded default with the image's SLUICE_LISTEN (on a free port), until
// the image's HEALTHCHECK command succeeds.
func TestImageBinary(t *testing.T) {
	env, args := gatewayBuild(t)
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("the build sets %v: want CGO_ENABLED=0, for a static binary on a base without libc", env)
	}
	for _, flag := range []string{"-trimpath", "-ldflags=-s -w"} {
		if !slices.Contains(args, flag) {
			t.Errorf("go build %v: want %s", args, flag)
		}
	}
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) || args[i+1] != "/out/gateway" {
		t.Fatalf("go build %v: want -o /out/gateway, which the gateway stage copies", args)
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	args = slices.Clone(args)
	args[i+1] = bin

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	build.Dir = ".."
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}
	if runtime.GOOS == "linux" {
		checkStatic(t, bin)
	}

	// The image's variables, with the port moved to a free one: the host
	// stays the Dockerfile's own.
	var image stage
	for _, st := range parseDockerfile(t, "../Dockerfile") {
		if st.name == "gateway" {
			image = st
		}
	}
	vars := imageEnv(image)
	host, _, err := net.SplitHostPort(vars["SLUICE_LISTEN"])
	if err != nil {
		t.Fatalf("SLUICE_LISTEN %q: %v", vars["SLUICE_LISTEN"], err)
	}
	adminHost, _, _ := net.SplitHostPort(vars["SLUICE_ADMIN_LISTEN"])
	ports := testbin.FreePorts(t, 2) // distinct: see FreePorts
	runEnv := append(os.Environ(),
		"SLUICE_LISTEN="+net.JoinHostPort(host, strconv.Itoa(ports[0])),
		"SLUICE_ADMIN_LISTEN="+net.JoinHostPort(adminHost, strconv.Itoa(ports[1])))

	logs := new(syncBuffer)
	gw := exec.CommandContext(ctx, bin)
	gw.Env, gw.Stdout, gw.Stderr = runEnv, logs, logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- gw.Wait() }()
	defer func() {
		_ = gw.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = gw.Process.Kill()
			<-exited
		}
	}()

	// The HEALTHCHECK fails until the gateway listens, then succeeds; each
	// try is bounded by its own -timeout.
	healthy := false
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		hc := exec.CommandContext(ctx, bin, "healthcheck", "-timeout", "5s")
		hc.Env = runEnv
		if err := hc.Run(); err == nil {
			healthy = true
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the gateway exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !healthy {
		t.Fatalf("the health check never passed; the gateway logged:\n%s", logs.String())
	}
	// The log reaches logs through exec's copy from a pipe, which may not
	// have copied the line yet when the health check passes: it is waited
	// for, not read once (a loaded machine found it empty).
	if host == "0.0.0.0" {
		everywhere := func() bool {
			l := logs.String()
			return strings.Contains(l, `"address":"0.0.0.0:`) || strings.Contains(l, `"address":"[::]:`)
		}
		for deadline := time.Now().Add(time.Minute); !everywhere() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond) // polls the copy of the gateway's output
		}
		if !everywhere() {
			t.Errorf("the gateway does not log listening on every interface:\n%s", logs.String())
		}
	}
}

// checkStatic fails unless the ELF file at path needs no dynamic loader
// and no shared library, and carries no symbol table.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is not static", path, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %v", path, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -ldflags=-s did not apply", path)
	}
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
