package upstream_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// hedging is the default policy with hedges after after, and no per-try
// timeout, so that only the hedge can save a call from a hung node.
func hedging(after time.Duration) upstream.RetryPolicy {
	p := upstream.DefaultRetryPolicy()
	p.HedgeAfter, p.PerTryTimeout = after, -1
	return p
}

// hungAndGood returns a node that never answers until the test ends, and one
// that answers at once.
func hungAndGood(t *testing.T) (hung, good *backend) {
	release := make(chan struct{})
	hung = newBackend(t, "hung", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before the servers close
	return hung, newBackend(t, "good", nil)
}

// TestHedgeWinsOverAHungNode sends every first attempt to a node that never
// answers: the hedge to the other node answers, within the budget, and the
// hung attempt is cancelled and stops counting as in flight.
func TestHedgeWinsOverAHungNode(t *testing.T) {
	hung, good := hungAndGood(t)
	loads := selector.NewLoads()
	c := newClient(t, staticOf(t, hung.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithLoads(loads), upstream.WithEjector(nil), upstream.WithRetryPolicy(hedging(20*time.Millisecond)))
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		resp, err := c.Do(get(t, ctx, "/"))
		if err != nil {
			cancel()
			t.Fatalf("call %d: %v", i, err)
		}
		if body := readAll(t, resp); body != "good" {
			t.Fatalf("call %d answered %q, want the hedge's answer", i, body)
		}
		cancel()
	}
	if n := len(hung.seen()); n != 10 {
		t.Fatalf("the hung node saw %d first attempts, want 10", n)
	}
	waitFor(t, func() bool { return loads.InFlight(hung.node()) == 0 }, "the hung attempts to be released")
}

// TestHedgesAreCountedInTheRetryBudget has a retry budget that allows no
// retry: no hedge is sent, and the call waits for the hung node until its
// budget ends.
func TestHedgesAreCountedInTheRetryBudget(t *testing.T) {
	hung, good := hungAndGood(t)
	p := hedging(20 * time.Millisecond)
	p.BudgetRatio, p.BudgetFloor = 0.01, 0
	c := newClient(t, staticOf(t, hung.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithEjector(nil), upstream.WithRetryPolicy(p))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("the call succeeded: a hedge went out with no retry budget for it")
	}
	if n := len(good.seen()); n != 0 {
		t.Fatalf("the other node saw %d requests, want no hedge", n)
	}
}

// TestNoHedgeForAPost checks that a request that may not be sent twice is
// never hedged.
func TestNoHedgeForAPost(t *testing.T) {
	slowNode := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // well past the hedge delay
	})
	good := newBackend(t, "good", nil)
	c := newClient(t, staticOf(t, slowNode.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithRetryPolicy(hedging(10*time.Millisecond)))
	resp, err := c.Do(newRequest(t, http.MethodPost, "x"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if n := len(good.seen()); n != 0 {
		t.Fatalf("a POST was hedged: the other node saw %d requests", n)
	}
}

// A hop whose request says a hop above retries on its path (retry=1, as
// budget.Inbound reads it) does not hedge either: a hedge is a retry, and
// only one layer retries. It hedged anyway, so that with hedging at every
// hop each layer doubled the requests the next one got. With
// AfterUpstreamRetries it hedges, as it retries.
func TestAHopBelowARetryingOneDoesNotHedge(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "after upstream retries"}[after], func(t *testing.T) {
			hung, good := hungAndGood(t)
			p := hedging(20 * time.Millisecond)
			p.AfterUpstreamRetries = after
			c := newClient(t, staticOf(t, hung.node(), good.node()), upstream.WithStrategy(inOrder),
				upstream.WithEjector(nil), upstream.WithRetryPolicy(p))
			// The handler's context, as budget.Inbound makes it of
			// "Sluice-Budget: ms=500, hop=1, retry=1".
			ctx, cancel := budget.NewContext(context.Background(),
				budget.Info{Deadline: time.Now().Add(500 * time.Millisecond), Received: 500 * time.Millisecond, Hop: 1, Retries: 1})
			defer cancel()
			if resp, err := c.Do(get(t, ctx, "/")); err == nil {
				readAll(t, resp)
			}
			if n := len(good.seen()); (n > 0) != after {
				t.Fatalf("the other node got %d requests: hedged %v, want %v", n, n > 0, after)
			}
		})
	}
}

// A hedge counts as a retry towards MaxRetries and in the retry member of
// the attempts after it: with MaxRetries 2 and every node answering 503
// after the hedge went, a call was sent four times (first, hedge, two
// retries), the last saying retry=2 where three retries were spent.
func TestAHedgeIsCountedAsARetry(t *testing.T) {
	slow503 := func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(40 * time.Millisecond) // past the hedge's 10 ms
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	var bs []*backend
	var nodes []*registry.Node
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		b := newBackend(t, n, slow503)
		bs, nodes = append(bs, b), append(nodes, b.node())
	}
	p := hedging(10 * time.Millisecond)
	p.BackoffBase, p.BackoffCap = time.Millisecond, time.Millisecond
	c := newClient(t, staticOf(t, nodes...), upstream.WithStrategy(inOrder), upstream.WithEjector(nil), upstream.WithRetryPolicy(p))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if resp, err := c.Do(get(t, ctx, "/")); err == nil {
		readAll(t, resp)
	}
	var sent []string
	for _, b := range bs {
		for _, h := range b.seen() {
			sent = append(sent, h.Budget)
		}
	}
	if len(sent) != 1+p.MaxRetries || !slices.ContainsFunc(sent, func(v string) bool { return strings.Contains(v, "retry=2") }) {
		t.Fatalf("sent %d times (%q) with MaxRetries %d: want the first, the hedge (retry=1) and one retry (retry=2)", len(sent), sent, p.MaxRetries)
	}
}
