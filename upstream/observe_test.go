package upstream_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/requestid"
	"github.com/sluicehq/sluice/upstream"
)

// recorder is an upstream.Observer that keeps what it is told.
type recorder struct {
	mu        sync.Mutex
	starts    []budget.Header
	ends      []string // "node kind outcome"
	refused   int
	exhausted []int
}

func (o *recorder) AttemptStart(_ context.Context, _ string, _ *registry.Node, h budget.Header) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.starts = append(o.starts, h)
}

func (o *recorder) AttemptEnd(_ context.Context, _ string, n *registry.Node, k upstream.AttemptKind, out upstream.Outcome, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ends = append(o.ends, n.ID+" "+k.String()+" "+out.String())
}

func (o *recorder) RetryRefused(string) { o.mu.Lock(); o.refused++; o.mu.Unlock() }

func (o *recorder) BudgetExhausted(_ context.Context, _ string, hop int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.exhausted = append(o.exhausted, hop)
}

// TestObserverSeesEveryAttemptAndTheRequestIDTravels: a failed first
// attempt and its retry are each observed, with the budget they carry; both
// carry the request id of the call's context.
func TestObserverSeesEveryAttemptAndTheRequestIDTravels(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get(requestid.HeaderName))
		mu.Unlock()
	}
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) { record(w, r); w.WriteHeader(http.StatusBadGateway) })
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) { record(w, r) })
	obs := &recorder{}
	c := newClient(t, staticOf(t, bad.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithEjector(nil), upstream.WithObserver(obs))
	ctx, cancel := context.WithTimeout(requestid.NewContext(context.Background(), "req-1"), waitTimeout)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if len(ids) != 2 || ids[0] != "req-1" || ids[1] != "req-1" {
		t.Errorf("the nodes saw ids %q, want req-1 on both attempts", ids)
	}
	want := []string{"bad first failed", "good retry success"}
	if len(obs.ends) != 2 || obs.ends[0] != want[0] || obs.ends[1] != want[1] {
		t.Errorf("attempts observed %q, want %q", obs.ends, want)
	}
	if len(obs.starts) != 2 || obs.starts[0].Hop != 1 || obs.starts[1].Remaining > obs.starts[0].Remaining ||
		obs.starts[0].Remaining <= 0 {
		t.Errorf("budgets observed %+v, want hop 1, shrinking", obs.starts)
	}
}

// TestObserverSeesHedges: a hedge that wins is observed as a hedge, and
// the hung first attempt it beat as abandoned.
func TestObserverSeesHedges(t *testing.T) {
	hung, good := hungAndGood(t)
	obs := &recorder{}
	c := newClient(t, staticOf(t, hung.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithEjector(nil), upstream.WithRetryPolicy(hedging(20*time.Millisecond)), upstream.WithObserver(obs))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.starts) != 2 {
		t.Errorf("%d attempts started, want 2 (the first and its hedge)", len(obs.starts))
	}
	got := map[string]bool{}
	for _, e := range obs.ends {
		got[e] = true
	}
	if len(obs.ends) != 2 || !got["good hedge success"] || !got["hung first abandoned"] {
		t.Errorf("attempts observed %q, want the hedge's success and the first attempt abandoned", obs.ends)
	}
}

// TestObserverSeesTheBudgetRunOut: a call whose budget ends during its
// attempt is reported out of budget at its hop (0 here: no budget.Info);
// one whose caller leaves is not.
func TestObserverSeesTheBudgetRunOut(t *testing.T) {
	hung, _ := hungAndGood(t)
	obs := &recorder{}
	c := newClient(t, staticOf(t, hung.node()), upstream.WithEjector(nil), upstream.WithObserver(obs))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Do(get(t, ctx, "/")); err == nil {
		t.Fatal("a hung node answered")
	}
	left, leave := context.WithCancel(context.Background())
	go func() {
		defer leave() // at the latest when the wait gives up: the call must end either way
		for deadline := time.Now().Add(waitTimeout); len(hung.seen()) < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // polling a condition
		}
	}()
	if _, err := c.Do(get(t, left, "/")); err == nil {
		t.Fatal("a hung node answered")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.exhausted) != 1 || obs.exhausted[0] != 0 {
		t.Errorf("out of budget reported at hops %v, want once at hop 0 (the caller that left is not)", obs.exhausted)
	}
}
