package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// holdingBackend answers once release is closed, telling entered of each
// request it holds.
func holdingBackend(t *testing.T, name string, entered chan<- string, release <-chan struct{}) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		entered <- name
		<-release
		_, _ = w.Write([]byte(name))
	})
}

// TestLimitSkipsAFullNode: with a limit of one request per node, a node
// holding a request is full, and the next call goes to the node with room,
// although the strategy picked the full one.
func TestLimitSkipsAFullNode(t *testing.T) {
	entered, release := make(chan string, 4), make(chan struct{})
	defer close(release)
	a := holdingBackend(t, "a", entered, release)
	b := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, a.node(), b.node()), upstream.WithStrategy(inOrder),
		upstream.WithLimits(upstream.NewLimits(upstream.LimitSettings{Min: 1, Max: 1})))
	held := make(chan error, 1)
	go func() {
		resp, err := c.Do(get(t, context.Background(), "/held"))
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	if got := recv(t, entered, "the first call to reach a"); got != "a" {
		t.Fatalf("first call reached %s, want a", got)
	}
	resp, err := c.Do(get(t, context.Background(), "/next"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "b" {
		t.Errorf("second call answered by %s, want b (a is full)", got)
	}
	release <- struct{}{}
	if err := recv(t, held, "the held call"); err != nil {
		t.Errorf("held call: %v", err)
	}
}

// TestLimitAllFullShedsAtOnce: with every node full, calls are refused at
// once, 503 overloaded with Retry-After and Sluice-Retry: no, and nothing
// counts against the nodes or the service: no breaker opens (one that
// counted them would, at MinCalls 1), no node is ejected or penalized, the
// retry budget is not charged.
func TestLimitAllFullShedsAtOnce(t *testing.T) {
	entered, release := make(chan string, 4), make(chan struct{})
	a := holdingBackend(t, "a", entered, release)
	b := holdingBackend(t, "b", entered, release)
	loads := selector.NewLoads()
	ejector := selector.NewEjector(selector.EjectSettings{ConsecutiveFaults: 1})
	breakers := upstream.NewBreakers(upstream.BreakerSettings{MinCalls: 1})
	limits := upstream.NewLimits(upstream.LimitSettings{Min: 1, Max: 1})
	c := newClient(t, staticOf(t, a.node(), b.node()), upstream.WithLoads(loads),
		upstream.WithEjector(ejector), upstream.WithBreakers(breakers), upstream.WithLimits(limits))
	done := make(chan error, 2)
	for range 2 { // one after the other, so that the second finds the first's node full
		go func() {
			resp, err := c.Do(get(t, context.Background(), "/held"))
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		recv(t, entered, "a held call")
	}

	const refused = 30
	for i := range refused {
		resp, err := c.Do(get(t, context.Background(), "/shed"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("call %d answered %s, want refused", i, resp.Status)
		}
		var oe *upstream.OverloadedError
		if !errors.As(err, &oe) {
			t.Fatalf("call %d: %v, want an *OverloadedError", i, err)
		}
	}
	rec := httptest.NewRecorder()
	_, err := c.Do(get(t, context.Background(), "/shed"))
	rpc.WriteError(rec, err)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
		rec.Header().Get(upstream.RetryHeader) != upstream.RetryNo {
		t.Errorf("answer: %d, Retry-After %q, Sluice-Retry %q; want 503, 1, no",
			rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get(upstream.RetryHeader))
	}
	if _, typ, _ := rpc.StatusOf(err); typ != problem.TypeOverloaded {
		t.Errorf("problem type %s, want %s", typ, problem.TypeOverloaded)
	}
	if got := limits.Shed(); got != refused+1 {
		t.Errorf("Shed() = %d, want %d", got, refused+1)
	}
	for _, st := range breakers.States() {
		if st.State != upstream.CircuitClosed.String() {
			t.Errorf("breaker of %s is %s after refused calls, want closed", st.Service, st.State)
		}
	}
	if ej := ejector.Ejections(); len(ej) > 0 {
		t.Errorf("ejected %v after refused calls, want none", ej)
	}
	for _, n := range []*registry.Node{a.node(), b.node()} {
		if p := loads.Penalty(n); p != 0 {
			t.Errorf("penalty of %s = %v, want 0", n.ID, p)
		}
	}
	close(release)
	for range 2 {
		if err := recv(t, done, "a held call"); err != nil {
			t.Errorf("held call: %v", err)
		}
	}
	// Room again: calls go through.
	resp, err := c.Do(get(t, context.Background(), "/after"))
	if err != nil {
		t.Fatalf("call after the held ones ended: %v", err)
	}
	resp.Body.Close()
}

// TestARefusalForTheCallersShareSaysSo: a call refused because its caller
// already holds its share of the nodes, while another caller calls too,
// says so, not that every node is at its limit (the heavy caller's log
// line blamed the nodes, which had room for others); a call refused with
// every node full says that.
func TestARefusalForTheCallersShareSaysSo(t *testing.T) {
	entered, release := make(chan string, 8), make(chan struct{})
	a := holdingBackend(t, "a", entered, release)
	limits := upstream.NewLimits(upstream.LimitSettings{Min: 4, Max: 4})
	heavy, other := netip.MustParseAddr("203.0.113.66"), netip.MustParseAddr("198.51.100.1")
	c := newClient(t, staticOf(t, a.node()), upstream.WithLimits(limits),
		upstream.WithCaller(func(r *http.Request) netip.Addr {
			if r.Header.Get("X-Caller") == "other" {
				return other
			}
			return heavy
		}))
	call := func(who string) error {
		r := get(t, context.Background(), "/held")
		r.Header.Set("X-Caller", who)
		resp, err := c.Do(r)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	done := make(chan error, 8)
	go func() { done <- call("other") }() // another caller, in flight
	recv(t, entered, "the other caller's call")
	for range 2 { // the heavy caller: three of four in flight fill its share
		go func() { done <- call("heavy") }()
		recv(t, entered, "a held call")
	}
	var oe *upstream.OverloadedError
	if err := call("heavy"); !errors.As(err, &oe) || !oe.Share || !strings.Contains(err.Error(), "share") {
		t.Errorf("the heavy caller's fourth call: %v (%+v), want an *OverloadedError for its share", err, oe)
	}
	go func() { done <- call("other") }() // the node's fourth place, kept for the other caller
	recv(t, entered, "the other caller's second call")
	oe = nil
	if err := call("other"); !errors.As(err, &oe) || oe.Share || !strings.Contains(err.Error(), "every node") {
		t.Errorf("the other caller's call with the node full: %v (%+v), want an *OverloadedError for the full nodes", err, oe)
	}
	close(release)
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestLimitBudgetBelowFastestAnswer: once a node's minimum round trip is
// known (100 ms on the client's clock, which each request moves), a call
// with less budget left than that is refused at once, 504 budget-too-low,
// without reaching the node; a call with enough goes through.
func TestLimitBudgetBelowFastestAnswer(t *testing.T) {
	clock := newManualClock(time.Now())
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(100 * time.Millisecond)
		_, _ = w.Write([]byte("b"))
	})
	breakers := upstream.NewBreakers(upstream.BreakerSettings{MinCalls: 1})
	c := newClient(t, staticOf(t, b.node()), upstream.WithClock(clock.Now), upstream.WithBreakers(breakers))
	for range 20 {
		resp, err := c.Do(get(t, context.Background(), "/learn"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	before := len(b.seen())
	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(50*time.Millisecond))
	defer cancel()
	_, err := c.Do(get(t, ctx, "/tight"))
	var tl *upstream.BudgetTooLowError
	if !errors.As(err, &tl) || !errors.Is(err, budget.ErrBelowMinimum) {
		t.Fatalf("tight call: %v, want a *BudgetTooLowError wrapping budget.ErrBelowMinimum", err)
	}
	if status, typ, _ := rpc.StatusOf(err); status != http.StatusGatewayTimeout || typ != problem.TypeBudgetTooLow {
		t.Errorf("tight call maps to %d %s, want 504 %s", status, typ, problem.TypeBudgetTooLow)
	}
	if got := len(b.seen()); got != before {
		t.Errorf("the node saw the tight call")
	}
	for _, st := range breakers.States() {
		if st.State != upstream.CircuitClosed.String() {
			t.Errorf("breaker %s after a refused tight call", st.State)
		}
	}
	ctx2, cancel2 := context.WithDeadline(context.Background(), clock.Now().Add(time.Second))
	defer cancel2()
	resp, err := c.Do(get(t, ctx2, "/roomy"))
	if err != nil {
		t.Fatalf("call with 1s left: %v", err)
	}
	readAll(t, resp)
}
