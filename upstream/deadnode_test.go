package upstream_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// firstAttemptsOn returns an attempt wrapper that counts the first attempts
// of calls that go to node.
func firstAttemptsOn(node *registry.Node, n *atomic.Int64) upstream.Option {
	return upstream.WithAttemptWrapper(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if a, ok := upstream.AttemptFromContext(r.Context()); ok && a.Number == 0 && a.Node.Same(node) {
				n.Add(1)
			}
			return next.RoundTrip(r)
		})
	})
}

// TestARefusingNodeDrawsNoFirstAttempts has one node of three refuse every
// connection, instantly: with least-loaded selection it has the fewest
// requests in flight, yet after its first refusal no call starts on it, and
// no call fails.
func TestARefusingNodeDrawsNoFirstAttempts(t *testing.T) {
	frozen := time.Unix(1000, 0)
	clock := func() time.Time { return frozen }
	tests := []struct {
		name string
		opts func() []upstream.Option
		max  int64
	}{
		// With time stopped, the dead node is never probed again.
		{"ejector, time stopped", func() []upstream.Option {
			return []upstream.Option{upstream.WithEjector(selector.NewEjector(selector.EjectSettings{Now: clock}))}
		}, 1},
		{"no ejector: the failure penalty alone, time stopped", func() []upstream.Option {
			return []upstream.Option{upstream.WithEjector(nil),
				upstream.WithLoads(selector.NewLoads(selector.WithClock(clock)))}
		}, 1},
		// On the real clock, one probe per RefusedFor (250 ms): the bound
		// holds unless 300 calls take 15 s.
		{"defaults", func() []upstream.Option { return nil }, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead := deadNode(t, "dead")
			a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
			var first atomic.Int64
			c := newClient(t, staticOf(t, dead, a.node(), b.node()),
				append(tt.opts(), firstAttemptsOn(dead, &first))...)
			const calls = 300
			failed := 0
			for range calls {
				resp, err := c.Do(get(t, context.Background(), "/"))
				if err != nil {
					failed++
					continue
				}
				readAll(t, resp)
			}
			t.Logf("%d of %d first attempts went to the refusing node; %d calls failed", first.Load(), calls, failed)
			if failed != 0 {
				t.Errorf("%d calls failed", failed)
			}
			if first.Load() > tt.max {
				t.Fatalf("%d first attempts went to the refusing node, want at most %d", first.Load(), tt.max)
			}
		})
	}
}

// TestARestartedNodeIsProbedAtOnce ejects a node, then has it come back as
// a new instance, in the two ways a registry shows one: it leaves discovery
// and registers again (with a new start mark), or it stays listed under the same ID and address but
// with a new start mark (registry.MetaInstance), as a process that crashed
// and restarted before its health check failed does. Either way its next
// call is a probe, not the rest of the ejection; the same start seen again
// changes nothing.
func TestARestartedNodeIsProbedAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		back func(reg *registry.Static, bad, good *backend, call func())
	}{
		{"left discovery and registered again", func(reg *registry.Static, bad, good *backend, call func()) {
			reg.Set(service, []*registry.Node{good.node()})
			call()
			// A new start: back under the start it left with, the node is the
			// instance that was ejected, whose check flapped
			// (TestAuditFlappingNodeKeepsItsEjection).
			reg.Set(service, []*registry.Node{started(bad, "second"), good.node()})
		}},
		{"started again under the same ID", func(reg *registry.Static, bad, good *backend, call func()) {
			reg.Set(service, []*registry.Node{started(bad, "first"), good.node()}) // the same start, seen again
			call()
			reg.Set(service, []*registry.Node{started(bad, "second"), good.node()})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frozen := time.Unix(1000, 0)
			clock := func() time.Time { return frozen }
			bad := newBackend(t, "bad", status(http.StatusInternalServerError))
			good := newBackend(t, "good", nil)
			reg := staticOf(t, started(bad, "first"), good.node())
			ej := selector.NewEjector(selector.EjectSettings{Now: clock})
			c := newClient(t, reg, upstream.WithEjector(ej), upstream.WithStrategy(inOrder),
				upstream.WithLoads(selector.NewLoads(selector.WithClock(clock))))
			call := func() {
				resp, err := c.Do(get(t, context.Background(), "/"))
				if err != nil {
					t.Fatal(err)
				}
				readAll(t, resp)
			}
			for range selector.DefaultEjectFaults {
				call()
			}
			if len(ej.Ejections()) != 1 {
				t.Fatalf("ejections %+v, want the bad node", ej.Ejections())
			}
			before := len(bad.seen())
			call()
			if n := len(bad.seen()); n != before {
				t.Fatal("an ejected node got a call")
			}
			tc.back(reg, bad, good, call)
			if n := len(bad.seen()); n != before {
				t.Fatal("the node got a call before it came back")
			}
			call()
			if n := len(bad.seen()); n != before+1 {
				t.Fatalf("the node that came back got %d calls, want one probe at once", n-before)
			}
		})
	}
}

// started returns b's node with the start mark a registering process sets.
func started(b *backend, mark string) *registry.Node {
	n := b.node()
	n.Metadata = map[string]string{registry.MetaInstance: mark}
	return n
}

// TestPanicModeSkipsTheDeadNode ejects two nodes of three (they failed, and
// have since recovered) while the third refuses connections: every node is
// out, and the panic mode serves the ejected ones within the cap, never the
// dead one.
func TestPanicModeSkipsTheDeadNode(t *testing.T) {
	frozen := time.Unix(1000, 0)
	clock := func() time.Time { return frozen }
	var failing atomic.Bool
	failing.Store(true)
	flap := func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "failing", http.StatusInternalServerError)
		}
	}
	a, b := newBackend(t, "a", flap), newBackend(t, "b", flap)
	dead := deadNode(t, "dead")
	ej := selector.NewEjector(selector.EjectSettings{Now: clock})
	var first atomic.Int64
	c := newClient(t, staticOf(t, a.node(), b.node(), dead), upstream.WithEjector(ej),
		upstream.WithLoads(selector.NewLoads(selector.WithClock(clock))),
		upstream.WithRetryPolicy(fastRetries(0)), firstAttemptsOn(dead, &first))
	for _, n := range []*registry.Node{a.node(), b.node()} {
		for range selector.DefaultEjectFaults {
			ej.Report(n, true)
		}
	}
	ej.Refused(dead)
	failing.Store(false)
	for i := range 100 {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		readAll(t, resp)
	}
	if n := first.Load(); n != 0 {
		t.Fatalf("%d calls started on the dead node in panic mode", n)
	}
}
