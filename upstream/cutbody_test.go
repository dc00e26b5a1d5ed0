package upstream_test

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// cutBody answers 200 with a Content-Length it does not keep: a few bytes,
// then the connection is cut, as a node that crashes or is reset mid-answer
// does.
func cutBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "100")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "partial")
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// TestANodeThatCutsItsBodiesDrawsNoTraffic has one node of three answer 200
// and cut every body short. Its answers fail fast, so it has the fewest
// requests in flight: judged by their heads, as successes, it drew a third
// of the calls or more (the least-loaded black hole). An answer is the
// node's success only once its body came whole: after its first cut body
// the node draws no call while time stands still, and a handful on the real
// clock, where its penalty decays and its ejection ends.
func TestANodeThatCutsItsBodiesDrawsNoTraffic(t *testing.T) {
	frozen := time.Unix(1000, 0)
	clock := func() time.Time { return frozen }
	tests := []struct {
		name string
		opts func() []upstream.Option
		max  int
	}{
		{"time stopped", func() []upstream.Option {
			return []upstream.Option{upstream.WithEjector(selector.NewEjector(selector.EjectSettings{Now: clock})),
				upstream.WithLoads(selector.NewLoads(selector.WithClock(clock)))}
		}, 1},
		// On the real clock the penalty of one cut body keeps the node out
		// for about 3.5 s, and five in a row eject it: the bound holds
		// unless 300 calls take a minute. Without the fix, about 100 fail.
		{"defaults", func() []upstream.Option { return nil }, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
			cut := newBackend(t, "cut", cutBody)
			c := newClient(t, staticOf(t, a.node(), b.node(), cut.node()), tt.opts()...)
			const calls = 300
			failed := 0
			for range calls {
				resp, err := c.Do(get(t, context.Background(), "/"))
				if err != nil {
					t.Fatal(err) // the head is a success: the call itself never fails
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					failed++
				}
			}
			t.Logf("%d of %d calls got a cut body", failed, calls)
			if failed == 0 || len(cut.seen()) == 0 {
				t.Fatal("the cutting node got no call: the test proves nothing")
			}
			if failed > tt.max {
				t.Fatalf("%d of %d calls got a cut body, want at most %d", failed, calls, tt.max)
			}
		})
	}
}

// TestABodyTheCallerLeavesBlamesNobody has every node send the start of a
// body and stall; each caller reads the start, then leaves, by cancelling
// its context or by closing the body. However often, no node is penalized
// or ejected and the breaker stays closed: a body's end counts against its
// node only when the node cut it.
func TestABodyTheCallerLeavesBlamesNobody(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "start")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	a, b, c3 := newBackend(t, "a", stall), newBackend(t, "b", stall), newBackend(t, "c", stall)
	loads := selector.NewLoads()
	c := newClient(t, staticOf(t, a.node(), b.node(), c3.node()), upstream.WithLoads(loads))
	var left atomic.Int64
	for i := range 3 * selector.DefaultEjectFaults * 4 {
		readSome(t, c, i%2 == 0)
		left.Add(1)
	}
	for _, n := range []*backend{a, b, c3} {
		if p := loads.Penalty(n.node()); p != 0 {
			t.Fatalf("node %s has a penalty of %g after %d callers left its bodies", n.name, p, left.Load())
		}
	}
	assertNobodyBlamed(t, c)
}

// readSome makes one call with c and reads the first bytes of its answer's
// body; with leave, its caller then leaves (its context is cancelled) while
// the rest is read; either way it closes the body.
func readSome(t *testing.T, c *upstream.Client, leave bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if leave {
		cancel()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("a body whose caller left came whole")
		}
	}
}
