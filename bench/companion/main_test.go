package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be its own child backend, as the command is.
func TestMain(m *testing.M) {
	if mode := os.Getenv(serveEnv); mode != "" {
		if err := serve(mode); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestRunMeasuresEveryVariant runs the whole benchmark very briefly: every
// variant completes calls, and a figure per call comes out of both the
// client process and the server children (so a broken variant or a child
// that does not report its own costs fails here, not in a user's run).
//
// One call at a time: budget.Inbound, with its defaults as a backend runs
// them, sheds a call (503) while the process's scheduling lag is over 20 ms
// and more calls than processors are in flight, which two at a time did on
// a machine a full test run kept busy (once in a clean-clone CI run).
func TestRunMeasuresEveryVariant(t *testing.T) {
	cfg := config{rounds: 1, duration: 200 * time.Millisecond, concurrency: 1, rate: 100, pin: false}
	rep, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.variants) != 6 {
		t.Fatalf("%d variants, want 6", len(rep.variants))
	}
	for _, v := range rep.variants {
		s := rep.samples[v.name]
		if len(s) != 1 {
			t.Fatalf("%s: %d samples, want 1", v.name, len(s))
		}
		if s[0].callsPerSec <= 0 || s[0].allocs <= 0 || s[0].p99 <= 0 || s[0].p50 > s[0].p99 {
			t.Errorf("%s: implausible sample %+v", v.name, s[0])
		}
	}
	var out strings.Builder
	rep.print(&out, cfg)
	for _, v := range rep.variants {
		if !strings.Contains(out.String(), v.name) {
			t.Errorf("report lacks %s:\n%s", v.name, out.String())
		}
	}
}

func TestConfigCheck(t *testing.T) {
	good := config{rounds: 1, duration: time.Second, concurrency: 1, rate: 1}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []config{
		{rounds: 0, duration: time.Second, concurrency: 1, rate: 1},
		{rounds: 1, duration: 0, concurrency: 1, rate: 1},
		{rounds: 1, duration: time.Second, concurrency: 0, rate: 1},
		{rounds: 1, duration: time.Second, concurrency: 1, rate: 0},
	} {
		if bad.check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
