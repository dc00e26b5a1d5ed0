// Package testbin finds the real programs that tests run on loopback beside
// the gateway: Consul, Pebble, Jaeger, redis-server. The project's scripts
// build or install them (scripts/consul.sh and the like, cached under
// ~/.cache/sluice), and scripts/test.sh names each one in an environment
// variable.
//
// Why one rule for all: a test of a real part must never pass by skipping
// where the project claims to run it. So a program that cannot be found
// fails the test when scripts/test.sh named it (its variable is set) or
// under CI; only a test run by hand, without the program, skips.
package testbin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Program is one program a test runs.
type Program struct {
	// Name is the program's name, for messages and, without Script, the
	// name looked up in PATH.
	Name string
	// Env is the variable scripts/test.sh sets to the program's path.
	Env string
	// Script, relative to the repository root, prints the cached
	// program's path when run with "path" and exits non-zero when there is
	// none. Empty: the program is looked up in PATH.
	Script string
	// Hint says how to get the program.
	Hint string
}

// Find returns the program's path: the Env variable's, else the script's
// cached program, else Name in PATH. When there is none it fails t if Env
// or CI is set, and skips t otherwise.
func (p Program) Find(t testing.TB) string {
	t.Helper()
	bin, err := p.find()
	if err == nil {
		return bin
	}
	msg := p.Name + " not found (" + err.Error() + "): " + p.Hint
	if os.Getenv(p.Env) != "" || os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func (p Program) find() (string, error) {
	if v := os.Getenv(p.Env); v != "" {
		return exec.LookPath(v)
	}
	if p.Script == "" {
		return exec.LookPath(p.Name)
	}
	root, err := repoRoot(p.Script)
	if err != nil {
		return "", err
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, p.Script), "path")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(strings.TrimSpace(p.Script + " path: " + err.Error() + " " + stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// repoRoot walks up from the working directory (the package under test)
// to the directory that holds script.
func repoRoot(script string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, script)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(script + " not found above the working directory")
		}
		dir = parent
	}
}
