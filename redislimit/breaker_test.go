package redislimit

import "testing"

// TestBreaker: consecutive failures open it, a success in between resets
// the count, an open breaker lets nothing through and reports the opening
// once, and close (the probe's success) lets everything through again.
func TestBreaker(t *testing.T) {
	b := &breaker{failures: 3}
	fail := func() bool {
		t.Helper()
		if !b.allow() {
			t.Fatalf("allow refused in state %s", b.state())
		}
		return b.done(false)
	}
	if fail() || fail() || b.state() != StateClosed {
		t.Fatalf("2 failures opened it: %s", b.state())
	}
	b.done(true)
	if fail() || fail() || b.state() != StateClosed {
		t.Fatal("a success did not reset the count")
	}
	if !fail() || b.state() != StateOpen {
		t.Fatalf("3 consecutive failures: %s, want open and reported", b.state())
	}
	if b.allow() {
		t.Fatal("an open breaker let a call through")
	}
	// Calls let through before it opened may still fail: no second report.
	if b.done(false) || b.done(false) || b.done(false) {
		t.Fatal("an open breaker reported opening again (a second probe)")
	}
	b.close()
	if !b.allow() || b.state() != StateClosed {
		t.Fatal("close did not let calls through")
	}
	if fail() || fail() {
		t.Fatal("the count did not start afresh after close")
	}
}
