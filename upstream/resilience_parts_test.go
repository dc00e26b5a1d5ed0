package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRetryBudgetRatioAndFloor(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := NewRetryBudget(0.2, 0, 10*time.Second, clk.now)
	if b.TryRetry() {
		t.Fatal("a retry before any request, with no floor")
	}
	for i := 0; i < 100; i++ {
		b.Request()
	}
	granted := 0
	for b.TryRetry() {
		granted++
	}
	if granted != 20 {
		t.Fatalf("granted %d retries for 100 requests, want 20", granted)
	}
	// The window slides: after it has passed, the old requests earn nothing.
	clk.advance(10 * time.Second)
	if b.TryRetry() {
		t.Fatal("a retry was granted on requests older than the window")
	}

	floor := NewRetryBudget(0.2, 1, 10*time.Second, clk.now)
	granted = 0
	for floor.TryRetry() {
		granted++
	}
	if granted != 10 {
		t.Fatalf("floor of 1/s over 10s granted %d retries with no traffic, want 10", granted)
	}
}

func TestBackoffIsFullJitterAndCapped(t *testing.T) {
	top := func(n int64) int64 { return n - 1 } // always the largest wait
	for n, want := range map[int]time.Duration{1: 25 * time.Millisecond, 2: 50 * time.Millisecond,
		3: 100 * time.Millisecond, 4: 200 * time.Millisecond, 5: 250 * time.Millisecond, 30: 250 * time.Millisecond} {
		if got := backoff(n, DefaultBackoffBase, DefaultBackoffCap, top); got != want {
			t.Errorf("backoff(%d) max = %v, want %v", n, got, want)
		}
	}
	if got := backoff(3, DefaultBackoffBase, DefaultBackoffCap, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("full jitter can wait 0, got %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep on an ended context = %v, want it cut short", err)
	}
}

// node returns a node of service svc named id.
func testNode(id string) *registry.Node {
	return &registry.Node{Service: "svc", ID: id, Address: "127.0.0.1:1"}
}

// call runs one call through b's breaker of svc: attempts fail on the nodes
// named in faults, and the call ends with outcome o, among nodes nodes.
func call(b *Breakers, o Outcome, nodes int, faults ...string) error {
	tk, err := b.admit("svc", netip.Addr{})
	if err != nil {
		return err
	}
	for _, id := range faults {
		tk.nodeFault(testNode(id), time.Time{})
	}
	tk.done(o, nodes, time.Time{})
	return nil
}

func TestBreakerCountsOnlyFaultsOfWholeCalls(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := NewBreakers(BreakerSettings{MinCalls: 10, FailureRatio: 0.5, OpenFor: time.Hour, Now: clk.now})
	for i := 0; i < 40; i++ {
		// Business errors, callers that left, budgets that ended, the
		// client's own faults, and failed attempts that a retry saved.
		o := []Outcome{Rejected, Abandoned, ClientFault, Success}[i%4]
		if err := call(b, o, 2, "a", "b"); err != nil {
			t.Fatalf("breaker opened on outcomes that are nobody's fault: %v", err)
		}
	}
	// 20 counted calls in the window so far (the successes and business
	// errors): 20 faults make half of 40.
	for i := 0; i < 20; i++ {
		if err := call(b, Failed, 2, "a", "b"); err != nil {
			t.Fatalf("opened after %d faults, want 20", i)
		}
	}
	err := call(b, Success, 2)
	var open *CircuitOpenError
	if !errors.As(err, &open) {
		t.Fatalf("after 20 faults in 40 calls, admit = %v, want CircuitOpenError", err)
	}
	if status, typ, _ := rpc.StatusOf(err); status != http.StatusServiceUnavailable || typ != "urn:sluice:problem:circuit-open" {
		t.Errorf("open breaker maps to %d %s", status, typ)
	}
	if st := b.States(); len(st) != 1 || st[0].State != "open" || st[0].FailingNodes != 2 {
		t.Errorf("States = %+v", st)
	}
	if _, err := b.admit("other", netip.Addr{}); err != nil {
		t.Errorf("another service's breaker is shared: %v", err)
	}
}

func TestBreakerNeedsFaultsOnMostNodes(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := NewBreakers(BreakerSettings{Now: clk.now})
	// Every call fails, but only ever on one node of three: a node's
	// trouble, for ejection.
	for i := 0; i < 100; i++ {
		if err := call(b, Failed, 3, "a"); err != nil {
			t.Fatalf("call %d: one failing node of three opened the breaker", i)
		}
	}
	if err := call(b, Failed, 3, "b"); err == nil {
		if err := call(b, Success, 3); err == nil {
			t.Fatal("faults on two nodes of three, every call failed: still closed")
		}
	}
}

func TestBreakerForgetsOutsideItsWindow(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := NewBreakers(BreakerSettings{Now: clk.now}) // 10 s, 20 calls, 80 %
	for i := 0; i < 19; i++ {
		_ = call(b, Failed, 1, "a")
	}
	clk.advance(12 * time.Second)
	for i := 0; i < 19; i++ {
		if err := call(b, Failed, 1, "a"); err != nil {
			t.Fatalf("call %d: faults older than the window opened the breaker", i)
		}
	}
	_ = call(b, Failed, 1, "a")
	if err := call(b, Success, 1); err == nil {
		t.Fatal("20 faults in the window: still closed")
	}
}

func TestBreakerHalfOpensWithAProbe(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var changes []CircuitState
	b := NewBreakers(BreakerSettings{MinCalls: 1, OpenFor: 5 * time.Second, Now: clk.now,
		OnStateChange: func(_ string, _, to CircuitState) { changes = append(changes, to) }})
	_ = call(b, NotSent, 1, "a")
	if len(changes) != 1 || changes[0] != CircuitOpen {
		t.Fatalf("changes %v, want open", changes)
	}
	clk.advance(4 * time.Second)
	if _, err := b.admit("svc", netip.Addr{}); err == nil {
		t.Fatal("admitted a call before the open period ended")
	}
	clk.advance(time.Second)
	tk, err := b.admit("svc", netip.Addr{})
	if err != nil {
		t.Fatalf("no probe after the open period: %v", err)
	}
	if _, err := b.admit("svc", netip.Addr{}); err == nil {
		t.Fatal("a half-open breaker let two probes through")
	}
	tk.done(Abandoned, 1, time.Time{}) // a probe that proved nothing frees its place
	if tk, err = b.admit("svc", netip.Addr{}); err != nil {
		t.Fatalf("no second probe after an abandoned one: %v", err)
	}
	tk.done(Failed, 1, time.Time{})
	if st := b.States(); st[0].State != "open" {
		t.Fatalf("after a failed probe: %+v, want open", st)
	}
	clk.advance(5 * time.Second)
	if tk, err = b.admit("svc", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	tk.done(Success, 1, time.Time{})
	if st := b.States(); st[0].State != "closed" || st[0].Calls != 0 {
		t.Errorf("after a good probe: %+v, want closed with a fresh window", st)
	}
	want := []CircuitState{CircuitOpen, CircuitHalfOpen, CircuitOpen, CircuitHalfOpen, CircuitClosed}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("changes %v, want %v", changes, want)
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	resp := func(status int, retry string) *http.Response {
		h := http.Header{}
		if retry != "" {
			h.Set(RetryHeader, retry)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	tests := []struct {
		name string
		ctx  context.Context
		resp *http.Response
		err  error
		want Outcome
		left time.Duration // of the budget; zero means a second
	}{
		{"200", ctx, resp(200, ""), nil, Success, 0},
		{"404 is business", ctx, resp(404, ""), nil, Rejected, 0},
		{"422 is business", ctx, resp(422, ""), nil, Rejected, 0},
		{"500 is a fault", ctx, resp(500, ""), nil, Failed, 0},
		{"503 is a fault", ctx, resp(503, ""), nil, Failed, 0},
		{"508 loop-detected is the request's", ctx, resp(508, ""), nil, Rejected, 0},
		{"503 not processed", ctx, resp(503, RetryNotProcessed), nil, NotSent, 0},
		{"attempt timeout", ctx, nil, context.DeadlineExceeded, Failed, 0},
		{"caller left", ended, nil, context.Canceled, Abandoned, 0},
		{"reset", ctx, nil, errors.New("connection reset by peer"), Failed, 0},
		{"reset as the budget ends", ctx, nil, errors.New("connection reset by peer"), Abandoned, time.Millisecond},
		{"504 as the budget ends", ctx, resp(504, ""), nil, Abandoned, 2 * time.Millisecond},
		{"504 after the budget ended", ended, resp(504, ""), nil, Abandoned, 0},
		{"504 with budget left", ctx, resp(504, ""), nil, Failed, 0},
		{"503 as the budget ends", ctx, resp(503, ""), nil, Failed, time.Millisecond},
		{"200 as the budget ends", ctx, resp(200, ""), nil, Success, time.Millisecond},
		{"the client's body", ctx, nil, fmt.Errorf("writing: %w", clientFault{}), ClientFault, 0},
		{"the client's body, the caller gone", ended, nil, fmt.Errorf("writing: %w", clientFault{}), ClientFault, 0},
	}
	for _, tt := range tests {
		left := tt.left
		if left == 0 {
			left = time.Second
		}
		if got := classify(tt.ctx, time.Time{}, tt.resp, tt.err, left, 5*time.Millisecond); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// classify judges a lean context's deadline at the attempt's end it is
// given, not at a reading of the clock of its own (one more per attempt):
// at a now past the deadline, the budget has ended however far ahead of
// the clock that deadline is.
func TestClassifyJudgesTheDeadlineAtNow(t *testing.T) {
	d := time.Now().Add(time.Hour)
	reset := errors.New("connection reset by peer")
	before := leanctx.WithDeadline(context.Background(), d)
	if got := classify(before, d.Add(-time.Second), nil, reset, time.Second, 5*time.Millisecond); got != Failed {
		t.Errorf("before the deadline: %v, want %v", got, Failed)
	}
	after := leanctx.WithDeadline(context.Background(), d)
	if got := classify(after, d, nil, reset, time.Second, 5*time.Millisecond); got != Abandoned {
		t.Errorf("at the deadline: %v, want %v", got, Abandoned)
	}
}

type clientFault struct{}

func (clientFault) Error() string     { return "client fault" }
func (clientFault) ClientFault() bool { return true }
