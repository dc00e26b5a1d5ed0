package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// The breaker counts a call whose answer has a body when that body ends:
// a node that answers 200 and cuts the body fails the call, for the
// breaker as for ejection. These tests keep the breaker's defaults but for
// its clock, which stands still: its window never slides and it stays open
// until the test moves the clock.

// stoppedBreakers returns breakers with the default settings on clock.
func stoppedBreakers(clock *manualClock) *upstream.Breakers {
	return upstream.NewBreakers(upstream.BreakerSettings{Now: clock.Now})
}

// breakerOf returns the state of the service's breaker, the zero state when
// it has none yet.
func breakerOf(c *upstream.Client) upstream.BreakerState {
	for _, st := range c.Breakers().States() {
		if st.Service == service {
			return st
		}
	}
	return upstream.BreakerState{}
}

// switchable answers as its mode says: cut (cutBody), or the start of a body
// and then nothing until the request ends (the caller leaves or closes it).
type switchable struct{ cut atomic.Bool }

func (s *switchable) serve(w http.ResponseWriter, r *http.Request) {
	if s.cut.Load() {
		cutBody(w, r)
		return
	}
	w.Header().Set("Content-Length", "100")
	_, _ = io.WriteString(w, "start")
	_ = http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// threeOf starts three nodes serving then, and a client over them that
// takes them in turn, with breakers on clock.
func threeOf(t *testing.T, clock *manualClock, then http.HandlerFunc) (*upstream.Client, []*backend) {
	var nodes []*registry.Node
	var backends []*backend
	for _, name := range []string{"a", "b", "c"} {
		be := newBackend(t, name, then)
		backends = append(backends, be)
		nodes = append(nodes, be.node())
	}
	c := newClient(t, staticOf(t, nodes...), upstream.WithBreakers(stoppedBreakers(clock)),
		upstream.WithStrategy(selector.RoundRobin))
	return c, backends
}

// cutCall makes one call whose answer's body is cut: the head is a success,
// the body fails.
func cutCall(t *testing.T, c *upstream.Client) {
	t.Helper()
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err) // the head is a success: the call itself never fails
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a cut body came whole")
	}
}

// sentTo counts the requests that reached backends.
func sentTo(backends []*backend) (n int) {
	for _, be := range backends {
		n += len(be.seen())
	}
	return n
}

// TestBreakerOpensWhenEveryNodeCutsItsBodies has every node of three answer
// 200 and cut the body: the breaker opens once MinCalls calls ended, all
// failed by the nodes, and then sends nothing. Counted at their heads, the
// calls were all successes and it never opened.
func TestBreakerOpensWhenEveryNodeCutsItsBodies(t *testing.T) {
	clock := newManualClock(time.Unix(1000, 0))
	c, backends := threeOf(t, clock, cutBody)
	calls := 0
	for ; calls < 5*upstream.DefaultBreakerMinCalls && breakerOf(c).State != "open"; calls++ {
		cutCall(t, c)
	}
	st := breakerOf(c)
	if st.State != "open" {
		t.Fatalf("after %d calls whose bodies every node cut, breaker %+v, want open", calls, st)
	}
	if calls != upstream.DefaultBreakerMinCalls {
		t.Fatalf("the breaker opened after %d calls, want %d (MinCalls)", calls, upstream.DefaultBreakerMinCalls)
	}
	before := sentTo(backends)
	_, err := c.Do(get(t, context.Background(), "/"))
	var open *upstream.CircuitOpenError
	if !errors.As(err, &open) {
		t.Fatalf("with the breaker open: %v", err)
	}
	if after := sentTo(backends); after != before {
		t.Fatalf("%d attempts reached the nodes while the breaker was open", after-before)
	}
}

// TestBreakerCountsAWholeBodyAsSuccessAtItsEnd reads every answer whole:
// each call counts once, a success, when its body ends, not before.
func TestBreakerCountsAWholeBodyAsSuccessAtItsEnd(t *testing.T) {
	clock := newManualClock(time.Unix(1000, 0))
	c, _ := threeOf(t, clock, nil)
	const calls = 2 * upstream.DefaultBreakerMinCalls
	for i := range calls {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		if st := breakerOf(c); st.Calls != i {
			t.Fatalf("call %d counted %d calls before its body was read, want %d", i, st.Calls, i)
		}
		readAll(t, resp)
		if st := breakerOf(c); st.Calls != i+1 || st.Faults != 0 {
			t.Fatalf("call %d read whole: breaker %+v, want %d calls and no fault", i, st, i+1)
		}
	}
	if st := breakerOf(c); st.State != "closed" || st.FailingNodes != 0 {
		t.Fatalf("breaker %+v, want closed with no failing node", st)
	}
}

// TestBreakerCountsABodyItsCallerLeavesAsItsHead has every node send the
// start of a body and stall; each caller reads the start, then closes the
// body early, or leaves by cancelling its context first. Each call counts
// as its head said, a success: a body's end counts against the service only
// when the node cut it.
func TestBreakerCountsABodyItsCallerLeavesAsItsHead(t *testing.T) {
	clock := newManualClock(time.Unix(1000, 0))
	var s switchable
	c, _ := threeOf(t, clock, s.serve)
	const calls = 2 * upstream.DefaultBreakerMinCalls
	for i := range calls {
		readSome(t, c, i%2 == 0)
	}
	if st := breakerOf(c); st.State != "closed" || st.Calls != calls || st.Faults != 0 || st.FailingNodes != 0 {
		t.Fatalf("breaker %+v, want closed, %d calls, no fault", st, calls)
	}
}

// TestACutBodyCountsOnceAfterARetry sends the first attempt to a node that
// answers 503 and the retry to one that answers 200 and cuts the body: the
// call counts once, failed, and both nodes count as failing.
func TestACutBodyCountsOnceAfterARetry(t *testing.T) {
	clock := newManualClock(time.Unix(1000, 0))
	bad, cut := newBackend(t, "bad", status(http.StatusServiceUnavailable)), newBackend(t, "cut", cutBody)
	c := newClient(t, staticOf(t, bad.node(), cut.node()), upstream.WithBreakers(stoppedBreakers(clock)),
		upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(2)))
	cutCall(t, c)
	if len(bad.seen()) != 1 || len(cut.seen()) != 1 {
		t.Fatalf("%d attempts on the 503 node, %d on the cutting one, want one each", len(bad.seen()), len(cut.seen()))
	}
	if st := breakerOf(c); st.Calls != 1 || st.Faults != 1 || st.FailingNodes != 2 {
		t.Fatalf("breaker %+v, want 1 call, 1 fault, 2 failing nodes", st)
	}
}

// TestACutBodyCountsOnceAfterAHedge sends the first attempt to a node that
// never answers and the hedge to one that answers 200 and cuts the body: the
// call counts once, failed by the cutting node; the hung attempt, cancelled,
// blames nobody.
func TestACutBodyCountsOnceAfterAHedge(t *testing.T) {
	clock := newManualClock(time.Unix(1000, 0))
	hung, _ := hungAndGood(t)
	cut := newBackend(t, "cut", cutBody)
	c := newClient(t, staticOf(t, hung.node(), cut.node()), upstream.WithBreakers(stoppedBreakers(clock)),
		upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(hedging(time.Millisecond)))
	cutCall(t, c)
	if st := breakerOf(c); st.Calls != 1 || st.Faults != 1 || st.FailingNodes != 1 {
		t.Fatalf("breaker %+v, want 1 call, 1 fault, 1 failing node", st)
	}
}

// TestAProbeCountsAtItsHead opens the breaker with cut bodies, lets its
// OpenFor pass, and sends a probe whose answer is still streaming: the
// probe counts at its head, so the breaker closes and admits the next call
// while the probe's body is unread. Counted at its body's end, a probe
// whose body streams for long, or is never closed, would hold the service
// refused all that time.
func TestAProbeCountsAtItsHead(t *testing.T) {
	clock := newManualClock(time.Unix(1000, 0))
	var s switchable
	s.cut.Store(true)
	c, _ := threeOf(t, clock, s.serve)
	for range upstream.DefaultBreakerMinCalls {
		cutCall(t, c)
	}
	if st := breakerOf(c); st.State != "open" {
		t.Fatalf("breaker %+v, want open", st)
	}
	s.cut.Store(false)
	clock.Advance(upstream.DefaultBreakerOpenFor)
	probe, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatalf("the probe: %v", err)
	}
	defer probe.Body.Close()
	if st := breakerOf(c); st.State != "closed" {
		t.Fatalf("breaker %+v with the probe's answer streaming, want closed", st)
	}
	next, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatalf("the call after the probe: %v", err)
	}
	next.Body.Close()
}
