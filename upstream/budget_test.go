package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// TestDoStampsBudgetPerAttempt checks the Sluice-Budget field of each attempt:
// the time left at the moment of sending less the margin, the next hop, and
// the retries spent so far. The first node reads the request, lets 250 ms of
// the injected clock pass and drops the connection; the GET is retried on the
// second node, whose field must show the time that passed.
func TestDoStampsBudgetPerAttempt(t *testing.T) {
	base := time.Now() // deadlines lie in the real future, so contexts stay live
	bg := context.Background()
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		opts []upstream.Option
		want [2]string
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(bg, base.Add(time.Minute))
		}, nil, [2]string{"ms=59999, hop=1", "ms=59749, hop=1, retry=1"}},
		{"margin", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(bg, base.Add(time.Minute))
		}, []upstream.Option{upstream.WithMargin(20 * time.Millisecond)},
			[2]string{"ms=59980, hop=1", "ms=59730, hop=1, retry=1"}},
		{"inherited hop and retries", func() (context.Context, context.CancelFunc) {
			return budget.NewContext(bg, budget.Info{Deadline: base.Add(time.Minute), Hop: 2, Retries: 3})
		}, []upstream.Option{upstream.WithRetryPolicy(afterUpstreamRetries())},
			[2]string{"ms=59999, hop=3, retry=3", "ms=59749, hop=3, retry=4"}},
		{"no deadline: the default timeout", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(bg)
		}, []upstream.Option{upstream.WithDefaultTimeout(30 * time.Second)},
			[2]string{"ms=29999, hop=1", "ms=29749, hop=1, retry=1"}},
		{"no deadline: the built-in default", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(bg)
		}, nil, [2]string{"ms=9999, hop=1", "ms=9749, hop=1, retry=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newManualClock(base)
			first := newBackend(t, "first", func(w http.ResponseWriter, r *http.Request) {
				clock.Advance(250 * time.Millisecond)
				dropConn(t, w)
			})
			second := newBackend(t, "second", nil)
			opts := append([]upstream.Option{upstream.WithStrategy(inOrder), upstream.WithClock(clock.Now)}, tt.opts...)
			c := newClient(t, staticOf(t, first.node(), second.node()), opts...)
			ctx, cancel := tt.ctx()
			defer cancel()
			resp, err := c.Do(get(t, ctx, "/"))
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); body != "second" {
				t.Fatalf("answer %q, want the second node's", body)
			}
			h1, h2 := first.seen(), second.seen()
			if len(h1) != 1 || len(h2) != 1 {
				t.Fatalf("hits %d and %d, want 1 and 1", len(h1), len(h2))
			}
			if got := [2]string{h1[0].Budget, h2[0].Budget}; got != tt.want {
				t.Fatalf("Sluice-Budget fields %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDoSpentBudgetSendsNothing checks that a budget too small to send with
// fails before any request leaves.
func TestDoSpentBudgetSendsNothing(t *testing.T) {
	tests := []struct {
		name   string
		left   time.Duration // from the clock's now to the deadline
		margin time.Duration
	}{
		{"deadline passed", -time.Second, time.Millisecond},
		{"deadline now", 0, time.Millisecond},
		{"margin eats it", 3 * time.Millisecond, 5 * time.Millisecond},
		{"under a millisecond after the margin", 1500 * time.Microsecond, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, "b", nil)
			now := time.Now()
			c := newClient(t, staticOf(t, b.node()), upstream.WithMargin(tt.margin),
				upstream.WithClock(func() time.Time { return now }))
			ctx, cancel := context.WithDeadline(context.Background(), now.Add(tt.left))
			defer cancel()
			resp, err := c.Do(get(t, ctx, "/"))
			if err == nil {
				resp.Body.Close()
				t.Fatal("Do succeeded with a spent budget")
			}
			if !errors.Is(err, budget.ErrSpent) {
				t.Fatalf("error %v, want one wrapping budget.ErrSpent", err)
			}
			if status, typ, _ := rpc.StatusOf(err); status != http.StatusGatewayTimeout || typ != problem.TypeBudgetSpent {
				t.Fatalf("StatusOf = %d %s, want 504 budget-spent", status, typ)
			}
			if n := len(b.seen()); n != 0 {
				t.Fatalf("the backend received %d requests, want 0", n)
			}
		})
	}
}

// TestDoDeadlineDuringAttempt checks a budget that runs out while the node
// works: the attempt ends, it is not retried, and the error says deadline.
func TestDoDeadlineDuringAttempt(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(waitTimeout):
			t.Error("the backend's request was not cancelled at the deadline")
		}
	})
	spare := newBackend(t, "spare", nil)
	start := time.Now()
	// The clock stays at start, so the budget is never found spent before
	// sending, however slowly this machine runs; the real deadline ends the wait.
	c := newClient(t, staticOf(t, slow.node(), spare.node()), upstream.WithStrategy(inOrder),
		upstream.WithClock(func() time.Time { return start }))
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(200*time.Millisecond))
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do succeeded past its deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if status, _, _ := rpc.StatusOf(err); status != http.StatusGatewayTimeout {
		t.Fatalf("StatusOf = %d, want 504", status)
	}
	if h := slow.seen(); len(h) != 1 || h[0].Budget != "ms=199, hop=1" {
		t.Fatalf("slow node saw %+v, want one request with ms=199", h)
	}
	if n := len(spare.seen()); n != 0 {
		t.Fatalf("a call out of budget was retried: spare node hit %d times", n)
	}
}

// afterUpstreamRetries is the default policy, allowed to retry on paths where
// a hop above has retried already.
func afterUpstreamRetries() upstream.RetryPolicy {
	p := upstream.DefaultRetryPolicy()
	p.AfterUpstreamRetries = true
	p.PerTryTimeout = -1 // retries for failures only, whatever the machine's load
	return p
}
