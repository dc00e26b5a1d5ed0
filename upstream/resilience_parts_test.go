package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

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

func TestBreakerCountsOnlyFaults(t *testing.T) {
	b := NewBreakers(BreakerSettings{ConsecutiveFaults: 3, OpenFor: time.Hour})
	for i := 0; i < 10; i++ {
		report, err := b.allow("svc")
		if err != nil {
			t.Fatalf("breaker opened on business errors and cancellations: %v", err)
		}
		report([]Outcome{Rejected, Abandoned}[i%2])
	}
	for i := 0; i < 3; i++ {
		report, err := b.allow("svc")
		if err != nil {
			t.Fatalf("opened after %d faults, want 3", i)
		}
		report(Failed)
	}
	_, err := b.allow("svc")
	var open *CircuitOpenError
	if !errors.As(err, &open) {
		t.Fatalf("after 3 faults allow = %v, want CircuitOpenError", err)
	}
	if status, typ, _ := rpc.StatusOf(err); status != http.StatusServiceUnavailable || typ != "urn:sluice:problem:circuit-open" {
		t.Errorf("open breaker maps to %d %s", status, typ)
	}
	if st := b.States(); len(st) != 1 || st[0].State != gobreaker.StateOpen.String() {
		t.Errorf("States = %+v", st)
	}
	if _, err := b.allow("other"); err != nil {
		t.Errorf("another service's breaker is shared: %v", err)
	}
}

func TestBreakerHalfOpensWithAProbe(t *testing.T) {
	changes := make(chan gobreaker.State, 8)
	b := NewBreakers(BreakerSettings{ConsecutiveFaults: 1, OpenFor: 20 * time.Millisecond,
		OnStateChange: func(_ string, _, to gobreaker.State) { changes <- to }})
	report, _ := b.allow("svc")
	report(NotSent)
	if s := <-changes; s != gobreaker.StateOpen {
		t.Fatalf("state %v, want open", s)
	}
	// Wait, with a deadline, for the open period to end: then one probe.
	deadline := time.Now().Add(10 * time.Second)
	for {
		report, err := b.allow("svc")
		if err == nil {
			if _, err := b.allow("svc"); err == nil {
				t.Fatal("a half-open breaker let two probes through")
			}
			report(Success)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker never half-opened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := b.States(); st[0].State != gobreaker.StateClosed.String() {
		t.Errorf("after a good probe: %+v, want closed", st)
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
		if got := classify(tt.ctx, tt.resp, tt.err, left, 5*time.Millisecond); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

type clientFault struct{}

func (clientFault) Error() string     { return "client fault" }
func (clientFault) ClientFault() bool { return true }
