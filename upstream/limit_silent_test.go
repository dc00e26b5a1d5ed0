package upstream

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// TestSilentNode: a node is silent to an attempt that ran out of budget
// only when it answered nothing, to anyone, from the attempt's start, for
// at least silentAfter and silentFactor times its baseline.
func TestSilentNode(t *testing.T) {
	t0 := time.Now()
	now := t0
	l := NewLimits(LimitSettings{Now: func() time.Time { return now }, Lag: noLag})
	n := &registry.Node{ID: "n", Service: "s", Address: "10.0.0.1:80"}
	l.of(n) // made at t0: an answer nobody gave yet
	sent := t0.Add(time.Millisecond)
	if !l.silent(n, sent, sent.Add(silentAfter)) {
		t.Error("a node that answered nothing for silentAfter is not silent")
	}
	if l.silent(n, sent, sent.Add(silentAfter-time.Millisecond)) {
		t.Error("silent before silentAfter")
	}
	if l.silent(&registry.Node{ID: "m", Service: "s", Address: "10.0.0.2:80"}, sent, sent.Add(time.Hour)) {
		t.Error("a node with no limit yet is silent")
	}
	l.get(n).base = float64(200 * time.Millisecond)
	if l.silent(n, sent, sent.Add(1500*time.Millisecond)) {
		t.Error("silent before silentFactor times its baseline")
	}
	if !l.silent(n, sent, sent.Add(2*time.Second)) {
		t.Error("not silent after silentFactor times its baseline")
	}
	now = sent.Add(time.Second)
	l.of(n).observe(10*time.Millisecond, 10*time.Millisecond, now) // it answered another request
	if l.silent(n, sent, sent.Add(time.Hour)) {
		t.Error("a node that answered another request meanwhile is silent")
	}
	var none *Limits
	if none.silent(n, sent, sent.Add(time.Hour)) {
		t.Error("silent without limits")
	}
}
