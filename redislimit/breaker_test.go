package redislimit

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestBreaker walks the breaker through its states with a moved clock.
func TestBreaker(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := &breaker{failures: 3, cooldown: time.Second, now: clk.now}
	fail := func() {
		t.Helper()
		ok, probe := b.allow()
		if !ok {
			t.Fatalf("allow refused in state %s", b.state())
		}
		b.done(probe, false)
	}
	fail()
	fail()
	if st := b.state(); st != StateClosed {
		t.Fatalf("after 2 failures: %s, want closed", st)
	}
	ok, _ := b.allow()
	b.done(false, true) // a success in between resets the count
	fail()
	fail()
	if st := b.state(); !ok || st != StateClosed {
		t.Fatalf("success did not reset the count: %s", st)
	}
	fail()
	if st := b.state(); st != StateOpen {
		t.Fatalf("after 3 consecutive failures: %s, want open", st)
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("open breaker let a call through")
	}
	clk.t = clk.t.Add(time.Second)
	ok, probe := b.allow()
	if !ok || !probe {
		t.Fatalf("after the cooldown: allow = %v, probe = %v; want one probe", ok, probe)
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("a second caller went through while the probe is in flight")
	}
	b.done(true, false) // the probe failed: open for another cooldown
	if st := b.state(); st != StateOpen {
		t.Fatalf("after a failed probe: %s, want open", st)
	}
	clk.t = clk.t.Add(999 * time.Millisecond)
	if ok, _ := b.allow(); ok {
		t.Fatal("breaker let a call through before the new cooldown ended")
	}
	clk.t = clk.t.Add(time.Millisecond)
	_, probe = b.allow()
	b.release() // the prober's client left: no verdict
	ok, probe2 := b.allow()
	if !probe || !ok || !probe2 {
		t.Fatal("a released probe did not let the next caller probe")
	}
	b.done(true, true)
	if st := b.state(); st != StateClosed {
		t.Fatalf("after a successful probe: %s, want closed", st)
	}
	if ok, probe := b.allow(); !ok || probe {
		t.Fatal("closed breaker must let every call through, none as a probe")
	}
}
