package budget

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/requestid"
)

// parents are the parents a budget's context may have: one that never
// ends, a lean one (package server's request context), one wrapped in
// values, and one of package context's (net/http's request context).
func parents() []struct {
	name   string
	ctx    context.Context
	cancel func()
} {
	lean := leanctx.WithCancel(context.Background())
	lean2 := leanctx.WithCancel(context.Background())
	std, cancel := context.WithCancel(context.Background())
	return []struct {
		name   string
		ctx    context.Context
		cancel func()
	}{
		{"background", context.Background(), func() {}},
		{"lean", lean, lean.Cancel},
		{"lean with values", requestid.NewContext(lean2, "id-1"), lean2.Cancel},
		{"context", std, cancel},
	}
}

// The budget's context is the same whatever its parent, and lean under
// every one.
func TestNewContextParents(t *testing.T) {
	for _, p := range parents() {
		t.Run(p.name, func(t *testing.T) {
			defer p.cancel()
			info := Info{Deadline: time.Now().Add(time.Hour), Received: time.Hour}
			ctx, cancel := NewContext(p.ctx, info)
			if leanctx.From(ctx) == nil {
				t.Fatal("not lean")
			}
			if h, ok := ctx.(leanctx.Holder); !ok || h.LeanContext() != leanctx.From(ctx) {
				t.Fatal("not a leanctx.Holder of the Ctx From finds")
			}
			if got, ok := FromContext(ctx); !ok || got != info {
				t.Fatalf("FromContext = %+v, %v", got, ok)
			}
			if d, ok := ctx.Deadline(); !ok || !d.Equal(info.Deadline) {
				t.Fatalf("Deadline = %v, %v", d, ok)
			}
			if ctx.Err() != nil {
				t.Fatal(ctx.Err())
			}
			// A child of package context's follows it.
			child, cancelChild := context.WithCancel(ctx)
			defer cancelChild()
			p.cancel()
			if p.name != "background" { // which cancel does not end
				select {
				case <-child.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the parent's end did not reach a child of the budget's context")
				}
			}
			cancel()
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Fatalf("Err after cancel = %v", ctx.Err())
			}
			<-ctx.Done()
			<-child.Done()
		})
	}
}

// A budget that runs out ends its context: at once for a waiter on Done
// (the lean context arms its timer when Done is asked), and for Err.
func TestNewContextEndsAtTheDeadline(t *testing.T) {
	for _, p := range parents() {
		t.Run(p.name, func(t *testing.T) {
			defer p.cancel()
			deadline := time.Now().Add(20 * time.Millisecond)
			ctx, cancel := NewContext(p.ctx, Info{Deadline: deadline, Received: 20 * time.Millisecond})
			defer cancel()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed at the deadline")
			}
			if time.Now().Before(deadline) || ctx.Err() != context.DeadlineExceeded {
				t.Fatalf("ended at %v, before %v, or Err %v", time.Now(), deadline, ctx.Err())
			}
			if _, err := Outgoing(ctx, time.Now(), 0, time.Second, 0); err != ErrSpent {
				t.Fatalf("Outgoing after the deadline: %v, want ErrSpent", err)
			}
		})
	}
}

// A budget already spent ends its context at once, whatever the parent.
func TestNewContextSpent(t *testing.T) {
	for _, p := range parents() {
		t.Run(p.name, func(t *testing.T) {
			defer p.cancel()
			ctx, cancel := NewContext(p.ctx, Info{Deadline: time.Now().Add(-time.Millisecond)})
			defer cancel()
			if ctx.Err() != context.DeadlineExceeded {
				t.Fatalf("Err = %v", ctx.Err())
			}
			<-ctx.Done()
		})
	}
}

// Under net/http's request context, one of package context's, the budget's
// context costs what it costs under the gateway's own, two allocations at
// most (it, and its cancel function where that escapes): no timer, no
// cancel context, no entry in the parent's children until something waits
// on it.
func TestNewContextAllocations(t *testing.T) {
	for _, p := range parents() {
		t.Run(p.name, func(t *testing.T) {
			defer p.cancel()
			info := Info{Deadline: time.Now().Add(time.Hour), Received: time.Hour}
			allocs := testing.AllocsPerRun(100, func() {
				ctx, cancel := NewContext(p.ctx, info)
				if ctx.Err() != nil {
					t.Fatal(ctx.Err())
				}
				cancel()
			})
			if allocs > 2 {
				t.Fatalf("%v allocations, want 2 at most", allocs)
			}
		})
	}
}

// A Scope is the context and its end in one allocation, where NewContext's
// cancel function is a second; its Cancel ends the context as that
// function does, with context.Canceled, and may be called again.
func TestNewScopeAt(t *testing.T) {
	for _, p := range parents() {
		t.Run(p.name, func(t *testing.T) {
			defer p.cancel()
			info := Info{Deadline: time.Now().Add(time.Hour), Received: time.Hour}
			allocs := testing.AllocsPerRun(100, func() {
				s := NewScopeAt(p.ctx, info, time.Now())
				if s.Err() != nil {
					t.Fatal(s.Err())
				}
				s.Cancel()
			})
			if allocs != 1 {
				t.Fatalf("%v allocations, want 1", allocs)
			}
			s := NewScopeAt(p.ctx, info, time.Now())
			if got, ok := FromContext(s); !ok || got != info {
				t.Fatalf("FromContext = %+v, %v", got, ok)
			}
			if dl, ok := s.Deadline(); !ok || !dl.Equal(info.Deadline) {
				t.Fatalf("Deadline = %v, %v", dl, ok)
			}
			s.Cancel()
			<-s.Done()
			if s.Err() != context.Canceled {
				t.Fatalf("Err after Cancel = %v", s.Err())
			}
			s.Cancel()
		})
	}
}

func TestNewContextKeepsTheRequestID(t *testing.T) {
	for _, p := range parents() {
		if p.name != "lean with values" {
			continue
		}
		ctx, cancel := NewContext(p.ctx, Info{Deadline: time.Now().Add(time.Hour)})
		if got := requestid.FromContext(ctx); got != "id-1" {
			t.Fatalf("request id %q", got)
		}
		cancel()
		p.cancel()
	}
}

// NewContextAt takes the caller's reading of the clock as its first look at
// the deadline, rather than reading the clock again: a deadline after now
// leaves the context live at birth (its callbacks do not run), one not
// after now ends it at once.
func TestNewContextAtJudgesAtNow(t *testing.T) {
	d := time.Now().Add(-time.Second) // past on the real clock
	for _, tc := range []struct {
		now   time.Time
		ended bool
	}{{d.Add(-time.Millisecond), false}, {d, true}} {
		ctx, cancel := NewContextAt(context.Background(), Info{Deadline: d}, tc.now)
		ran := false
		leanctx.Watch(ctx, func() { ran = true })
		if ran != tc.ended {
			t.Errorf("now %v before the deadline: ended at birth %v, want %v", d.Sub(tc.now), ran, tc.ended)
		}
		if ctx.Err() != context.DeadlineExceeded {
			t.Errorf("Err past the deadline = %v", ctx.Err())
		}
		cancel()
	}
}
