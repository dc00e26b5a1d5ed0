package testbin

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindFromEnv(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_TESTBIN_PROG", bin)
	p := Program{Name: "prog", Env: "SLUICE_TESTBIN_PROG", Script: "scripts/none.sh"}
	if got := p.Find(t); got != bin {
		t.Fatalf("Find = %q, want %q", got, bin)
	}
}

func TestFindMissing(t *testing.T) {
	p := Program{Name: "no-such-program-here", Env: "SLUICE_TESTBIN_NONE"}
	if _, err := p.find(); err == nil {
		t.Fatal("found a program that does not exist")
	}
	t.Setenv("SLUICE_TESTBIN_NONE", "/nonexistent/prog")
	if _, err := p.find(); err == nil {
		t.Fatal("a variable naming a missing file was accepted")
	}
}

// recorder is a testing.TB that records whether Find failed or skipped
// it first (its Fatal and Skip return, unlike testing.T's).
type recorder struct {
	testing.TB
	first string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(...any) {
	if r.first == "" {
		r.first = "fatal"
	}
}
func (r *recorder) Skip(...any) {
	if r.first == "" {
		r.first = "skip"
	}
}

// TestMissingFailsWhenNamed: a missing program fails the test when its
// variable or CI is set, and skips it otherwise.
func TestMissingFailsWhenNamed(t *testing.T) {
	p := Program{Name: "no-such-program-here", Env: "SLUICE_TESTBIN_NONE"}
	for _, tt := range []struct{ env, ci, want string }{
		{"", "", "skip"},
		{"/nonexistent/prog", "", "fatal"},
		{"", "1", "fatal"},
	} {
		t.Setenv("SLUICE_TESTBIN_NONE", tt.env)
		t.Setenv("CI", tt.ci)
		r := &recorder{TB: t}
		p.Find(r)
		if r.first != tt.want {
			t.Errorf("variable %q, CI %q: %s, want %s", tt.env, tt.ci, r.first, tt.want)
		}
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	for range 50 {
		ps := FreePorts(t, 4)
		seen := map[int]bool{}
		for _, p := range ps {
			if p <= 0 || seen[p] {
				t.Fatalf("FreePorts = %v: want 4 distinct ports", ps)
			}
			seen[p] = true
		}
	}
}

// TestFreePortsBelowEphemeral: where the kernel's ephemeral range can be
// read, the ports are below it, where no outgoing connection can take one
// before the program binds it.
func TestFreePortsBelowEphemeral(t *testing.T) {
	lo, hi := belowEphemeral()
	if hi-lo < 1000 {
		t.Skip("no ephemeral range to stay below on this system")
	}
	for _, p := range FreePorts(t, 20) {
		if p < lo || p >= hi {
			t.Errorf("port %d, want in [%d, %d)", p, lo, hi)
		}
	}
}
