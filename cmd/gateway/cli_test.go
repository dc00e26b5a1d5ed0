package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// invoke runs a command line as main does and returns its exit status and
// what it wrote. No test here reaches serve's listeners: each fails, or
// runs a command that returns, before binding anything.
func invoke(t *testing.T, stdin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = exitStatus(c.run(ctx, args, nil), &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandLineUsageErrors(t *testing.T) {
	good := filepath.Join(t.TempDir(), "ok.yaml")
	writeFile(t, good, configText("127.0.0.1:9", "  - {path: /a, service: svc}\n"))
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"command after the flags", []string{"-config", good, "validate"}, `unexpected argument "validate": a command comes first`},
		{"stray argument", []string{"-config", good, "extra"}, `unexpected argument "extra"`},
		{"serve's flag on validate", []string{"validate", "-config", good}, "flag provided but not defined: -config"},
		{"validate without a file", []string{"validate"}, "name the files"},
		{"routes without a file", []string{"routes"}, "name one file"},
		{"routes with two files", []string{"routes", good, good}, "name one file"},
		{"schema with an argument", []string{"schema", "x"}, `unexpected argument "x"`},
		{"healthcheck with an argument", []string{"healthcheck", "now"}, `unexpected argument "now"`},
		{"unknown flag", []string{"-frobnicate"}, "frobnicate"},
		{"-listen with -config", []string{"-config", good, "-listen", "0.0.0.0:8080"}, "apply to the embedded default"},
		{"-listen not host:port", []string{"-listen", "8080"}, `-listen "8080": want host:port`},
		{"-admin-listen not host:port", []string{"-admin-listen", "localhost"}, `-admin-listen "localhost"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, "", nil, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "usage:") {
				t.Errorf("stderr %q does not say %q with the usage", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q: a refused command line must do nothing", stdout)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"validate", "-h"}, {"routes", "-help"}} {
		if code, _, stderr := invoke(t, "", nil, args...); code != 0 || !strings.Contains(stderr, "Usage of gateway") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestSchemaCommand(t *testing.T) {
	code, stdout, _ := invoke(t, "", nil, "schema")
	if code != 0 || stdout != string(config.JSONSchema()) {
		t.Errorf("schema: exit %d, printed %d bytes, want the %d of config.JSONSchema", code, len(stdout), len(config.JSONSchema()))
	}
	out := filepath.Join(t.TempDir(), "s.json")
	if code, _, stderr := invoke(t, "", nil, "schema", "-o", out); code != 0 {
		t.Fatalf("schema -o: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, config.JSONSchema()) {
		t.Errorf("schema -o wrote %d bytes (%v), want the schema", len(b), err)
	}
}

func TestDefaultListenAddresses(t *testing.T) {
	// The image's variables set where the embedded default listens, for
	// serve and for healthcheck alike; flags win over them.
	env := map[string]string{envListen: "0.0.0.0:8181", envAdminListen: "0.0.0.0:9191"}
	c := &cli{getenv: func(k string) string { return env[k] }}
	if got := c.defaultHealthURL(); got != "http://127.0.0.1:8181/healthz" {
		t.Errorf("health URL with %s=%s: %s", envListen, env[envListen], got)
	}
	if got := (&cli{getenv: func(string) string { return "" }}).defaultHealthURL(); got != "http://127.0.0.1:8080/healthz" {
		t.Errorf("health URL without %s: %s, want the embedded default's port", envListen, got)
	}
}

// TestEmbeddedDefaultListensWhereTold serves the embedded default with its
// listeners moved by the image's variables and by the flags, which win:
// without them it would take 127.0.0.1:8080 and 127.0.0.1:9901. It also
// checks that serve tells the cli's profiling hook whether -pprof is on.
func TestEmbeddedDefaultListensWhereTold(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		pprof bool
	}{
		{"variables", map[string]string{envListen: "127.0.0.1:0", envAdminListen: "127.0.0.1:0"}, nil, false},
		{"flags over variables", map[string]string{envListen: "127.0.0.1:8080", envAdminListen: "127.0.0.1:9901"},
			[]string{"-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-pprof"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := newLogBuffer()
			profiling := make(chan bool, 1)
			c := &cli{stdin: strings.NewReader(""), stdout: logs, stderr: logs,
				getenv:    func(k string) string { return tt.env[k] },
				profiling: func(on bool) { profiling <- on }}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.run(ctx, append([]string{"-access-log=false"}, tt.args...), nil) }()
			listening := logs.waitFor(t, "listening", 2)
			select {
			case on := <-profiling:
				if on != tt.pprof {
					t.Errorf("profiling told %v, want %v", on, tt.pprof)
				}
			default:
				t.Error("serve did not tell the profiling hook whether -pprof is on")
			}
			for _, l := range listening {
				addr := l["address"].(string)
				if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":8080") || strings.HasSuffix(addr, ":9901") {
					t.Errorf("listening on %s, want a port the system chose", addr)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}
