package pebbletest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// script is the path of the install script relative to the repository root.
const script = "scripts/pebble.sh"

// Binary returns the path of the Pebble binary: SLUICE_PEBBLE, or what
// `scripts/pebble.sh path` prints. When there is none it fails the test if
// CI or SLUICE_PEBBLE is set (scripts/test.sh sets the latter), and skips
// it otherwise.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("SLUICE_PEBBLE"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("SLUICE_PEBBLE: %v", err)
		}
		return bin
	}
	bin, err := binary()
	if err == nil {
		return bin
	}
	msg := "pebble not installed: run scripts/pebble.sh build (" + err.Error() + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func binary() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(root, script), "path")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.New(strings.TrimSpace(script + " path: " + err.Error() + " " + stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// repoRoot walks up from the working directory (the package under test) to
// the directory holding the install script.
func repoRoot() (string, error) {
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
