package upstream

import (
	"testing"
	"time"
)

// A service whose one slow node answers in 200 ms and whose fast nodes
// answer in 5 ms: an attempt to a fast node is cut at the floor once the
// node has given 20 answers, not at three times the slow node's latency;
// before that, and for a node without a limit (no Limits), the service's
// latency serves. A node that stops answering keeps the latency it had,
// and an answer's whole time from sending, its body's upload included,
// is what the node's latency learns.
func TestAPerTryTimeoutIsTheNodesOwnOnceItHasAnswered(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	svc := &service{}
	for i := range 40 {
		d := 5 * time.Millisecond
		if i%2 == 0 {
			d = 200 * time.Millisecond
		}
		now = now.Add(10 * time.Millisecond)
		svc.latency.observe(d, now)
	}
	svcHigh, ok := svc.latency.high(now)
	if !ok || svcHigh < 200*time.Millisecond {
		t.Fatalf("the service's high latency is %v (%v), want at least the slow node's 200 ms", svcHigh, ok)
	}
	const left = 5 * time.Second
	if got, want := derivedTry(svcHigh, left), DefaultPerTryFactor*svcHigh; got != want {
		t.Fatalf("the service's per-try timeout is %v, want %v", got, want)
	}

	fast, _ := limitAt(t0, 0)
	for range perTrySamples - 1 {
		fast.observe(5*time.Millisecond, 5*time.Millisecond, now)
	}
	if high, _ := highOf(svc, fast, now); high != svcHigh {
		t.Errorf("a node with %d answers is cut by a high latency of %v, want the service's %v",
			perTrySamples-1, high, svcHigh)
	}
	fast.observe(5*time.Millisecond, 5*time.Millisecond, now)
	high, ok := highOf(svc, fast, now)
	if got := derivedTry(high, left); !ok || got != DefaultPerTryFloor {
		t.Errorf("a fast node with %d answers has a per-try timeout of %v (%v), want the floor %v",
			perTrySamples, got, ok, DefaultPerTryFloor)
	}
	if high, _ := highOf(svc, nil, now); high != svcHigh {
		t.Errorf("a node without a limit is cut by a high latency of %v, want the service's %v", high, svcHigh)
	}
	later := now.Add(10 * time.Minute) // the node answered nothing since
	if high, _ := highOf(svc, fast, later); derivedTry(high, left) != DefaultPerTryFloor {
		t.Errorf("a fast node silent for 10 minutes has a per-try timeout of %v, want the floor it had",
			derivedTry(high, left))
	}

	upload, _ := limitAt(t0, 0)
	for range perTrySamples {
		upload.observe(time.Millisecond, 400*time.Millisecond, now) // a 400 ms upload, answered at once
	}
	if high, _ := highOf(svc, upload, now); high < 400*time.Millisecond {
		t.Errorf("a node whose attempts take 400 ms, upload included, has a high latency of %v", high)
	}
}
