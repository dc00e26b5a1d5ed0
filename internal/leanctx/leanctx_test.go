package leanctx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitTimeout bounds a wait for something that must happen promptly (a
// goroutine of package context's, a timer already due): generous, for a
// loaded machine; a pass never waits that long.
const waitTimeout = 10 * time.Second

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: not closed after %v", what, waitTimeout)
	}
}

// sleepUntil returns once the clock has passed d.
func sleepUntil(d time.Time) {
	for now := time.Now(); !now.After(d); now = time.Now() {
		time.Sleep(d.Sub(now) + time.Millisecond)
	}
}

func TestCancelKeyFound(t *testing.T) {
	if cancelKey == nil {
		t.Fatal("package context's cancellation key was not found: From sees through no wrapper")
	}
}

func TestCancel(t *testing.T) {
	c := WithCancel(context.Background())
	if c.Err() != nil || isClosed(c.Done()) {
		t.Fatal("ended before Cancel")
	}
	if _, ok := c.Deadline(); ok {
		t.Fatal("deadline without one")
	}
	var runs atomic.Int32
	c.Register(func() { runs.Add(1) })
	c.Cancel()
	c.Cancel()
	if c.Err() != context.Canceled || !isClosed(c.Done()) {
		t.Fatalf("after Cancel: Err %v, Done closed %v", c.Err(), isClosed(c.Done()))
	}
	if context.Cause(c) != context.Canceled {
		t.Fatalf("Cause = %v", context.Cause(c))
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("callback ran %d times", n)
	}
}

func TestDoneIsLazyAndArmsTheTimer(t *testing.T) {
	c := WithDeadline(context.Background(), time.Now().Add(time.Hour))
	defer c.Cancel()
	r := c.Register(func() {})
	if c.done.Load() != nil || c.timer != nil {
		t.Fatal("a channel or a timer before Done")
	}
	r.Stop()
	if c.Waited() {
		t.Fatal("Waited before Done")
	}
	d := c.Done()
	if !c.Waited() {
		t.Fatal("not Waited after Done")
	}
	if c.timer == nil {
		t.Fatal("Done armed no timer for the deadline")
	}
	if c.Done() != d {
		t.Fatal("Done changed")
	}
	c.Cancel()
	if !isClosed(d) {
		t.Fatal("Done not closed by Cancel")
	}
}

func TestCancelBeforeDoneGivesAClosedChannel(t *testing.T) {
	c := WithCancel(context.Background())
	c.Cancel()
	if !isClosed(c.Done()) {
		t.Fatal("Done of an ended context is open")
	}
}

// At the deadline, with nobody waiting, nothing happens by itself; Err
// observes it and ends the context then.
func TestDeadlineObservedByErr(t *testing.T) {
	d := time.Now().Add(20 * time.Millisecond)
	c := WithDeadline(context.Background(), d)
	var runs atomic.Int32
	c.Register(func() { runs.Add(1) })
	if got, ok := c.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline = %v, %v", got, ok)
	}
	if c.Err() != nil {
		t.Fatal("Err before the deadline")
	}
	sleepUntil(d)
	if runs.Load() != 0 || c.ended.Load() {
		t.Fatal("ended at the deadline with no timer armed")
	}
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("Err past the deadline = %v", c.Err())
	}
	if runs.Load() != 1 {
		t.Fatal("Err's end ran no callback")
	}
	if !isClosed(c.Done()) || context.Cause(c) != context.DeadlineExceeded {
		t.Fatal("ended by Err, but Done open or Cause wrong")
	}
	c.Cancel()
	if c.Err() != context.DeadlineExceeded || runs.Load() != 1 {
		t.Fatal("Cancel after the end changed it")
	}
}

// Done arms a timer: a waiter sees the end at the deadline, as with
// context.WithDeadline, and so do the callbacks.
func TestDoneEndsAtTheDeadline(t *testing.T) {
	d := time.Now().Add(20 * time.Millisecond)
	c := WithDeadline(context.Background(), d)
	ran := make(chan struct{})
	c.Register(func() { close(ran) })
	waitClosed(t, c.Done(), "Done")
	if time.Now().Before(d) {
		t.Fatal("ended before the deadline")
	}
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("Err = %v", c.Err())
	}
	waitClosed(t, ran, "callback")
}

func TestPastDeadlineEndsAtOnce(t *testing.T) {
	c := WithDeadline(context.Background(), time.Now().Add(-time.Second))
	if c.Err() != context.DeadlineExceeded || !isClosed(c.Done()) {
		t.Fatal("a context past its deadline at birth is live")
	}
	ran := false
	r := c.Register(func() { ran = true })
	if !ran || r.Stop() {
		t.Fatal("Register on an ended context: the callback must run at once and Stop report false")
	}
}

// ErrAt judges the deadline at the time given, not at a reading of its
// own: a deadline far ahead of the clock has passed at a later now, and one
// just passed has not at an earlier now. ErrAt, the function, does the same
// for a context that only adds values to a Ctx, and answers any other
// context's own Err.
func TestErrAt(t *testing.T) {
	d := time.Now().Add(time.Hour)
	c := WithDeadline(context.Background(), d)
	if err := c.ErrAt(d.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("ErrAt before the deadline = %v", err)
	}
	if c.ended.Load() {
		t.Fatal("ErrAt before the deadline ended c")
	}
	if err := c.ErrAt(time.Time{}); err != nil {
		t.Fatalf("ErrAt(zero), an hour before the deadline = %v", err)
	}
	wrapped := context.WithValue(c, struct{}{}, 1)
	if err := ErrAt(wrapped, d); err != context.DeadlineExceeded {
		t.Fatalf("ErrAt(ctx, deadline) = %v", err)
	}
	if !c.ended.Load() || c.Err() != context.DeadlineExceeded {
		t.Fatal("ErrAt at the deadline did not end c")
	}
	if err := c.ErrAt(d.Add(-time.Hour)); err != context.DeadlineExceeded {
		t.Fatalf("ErrAt once ended = %v", err)
	}

	past := WithDeadline(context.Background(), time.Now().Add(-time.Second))
	if err := ErrAt(past, time.Time{}); err != context.DeadlineExceeded {
		t.Fatalf("ErrAt(ctx, zero) past the deadline = %v", err)
	}
	std, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ErrAt(std, time.Now().Add(-time.Hour)); err != context.Canceled {
		t.Fatalf("ErrAt of package context's = %v", err)
	}
}

// InitAt takes its first look at the deadline at the time given.
func TestInitAt(t *testing.T) {
	d := time.Now().Add(time.Hour)
	var live, dead, zero Ctx
	live.InitAt(context.Background(), d, d.Add(-time.Nanosecond))
	if live.ended.Load() {
		t.Fatal("InitAt before the deadline ended it")
	}
	dead.InitAt(context.Background(), d, d)
	if !dead.ended.Load() || dead.Err() != context.DeadlineExceeded {
		t.Fatal("InitAt at the deadline left it live")
	}
	zero.InitAt(context.Background(), time.Now().Add(-time.Second), time.Time{})
	if !zero.ended.Load() {
		t.Fatal("InitAt with a zero now, past the deadline, left it live")
	}
}

func TestParentDeadlineIsInherited(t *testing.T) {
	pd := time.Now().Add(time.Hour)
	p := WithDeadline(context.Background(), pd)
	defer p.Cancel()
	for _, parent := range []context.Context{p, context.WithValue(p, "k", "v")} {
		c := WithDeadline(parent, pd.Add(time.Hour))
		if d, ok := c.Deadline(); !ok || !d.Equal(pd) {
			t.Fatalf("Deadline = %v, want the parent's %v", d, pd)
		}
		c2 := WithDeadline(parent, pd.Add(-time.Minute))
		if d, _ := c2.Deadline(); !d.Equal(pd.Add(-time.Minute)) {
			t.Fatalf("Deadline = %v, want its own", d)
		}
		c.Cancel()
		c2.Cancel()
	}
	std, cancel := context.WithDeadline(context.Background(), pd)
	defer cancel()
	if d, _ := WithCancel(std).Deadline(); !d.Equal(pd) {
		t.Fatal("a foreign parent's deadline is not inherited")
	}
}

type valueOnly struct{ context.Context }

func (v valueOnly) Value(key any) any {
	if key == "own" {
		return "mine"
	}
	return v.Context.Value(key)
}

func TestLeanParentEndsChildrenSynchronously(t *testing.T) {
	p := WithCancel(context.WithValue(context.Background(), "k", "v"))
	for _, parent := range []context.Context{p, context.WithValue(p, "k2", "v2"), valueOnly{p}} {
		c := WithCancel(parent)
		if c.lean != p {
			t.Fatalf("child of %T not registered with the lean parent", parent)
		}
		c.Cancel()
	}
	if len(p.regs) != 0 {
		t.Fatalf("cancelled children left %d registrations in the parent", len(p.regs))
	}
	c := WithDeadline(valueOnly{p}, time.Now().Add(time.Hour))
	g := WithCancel(c)
	var runs atomic.Int32
	g.Register(func() { runs.Add(1) })
	gd := g.Done()
	p.Cancel()
	if c.Err() != context.Canceled || g.Err() != context.Canceled || !isClosed(gd) || runs.Load() != 1 {
		t.Fatal("the parent's Cancel did not end child and grandchild before returning")
	}
	if c.Value("k") != "v" || g.Value("own") != "mine" {
		t.Fatal("values lost")
	}
}

func TestForeignParent(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		c := WithDeadline(parent, time.Now().Add(time.Hour))
		if !c.foreign {
			t.Fatal("not following the parent")
		}
		ran := make(chan struct{})
		c.Register(func() { close(ran) })
		cancel()
		// Err sees the parent's end at once; Done and the callbacks follow
		// through context.AfterFunc's goroutine.
		if c.Err() != context.Canceled {
			t.Fatalf("Err = %v", c.Err())
		}
		waitClosed(t, c.Done(), "Done")
		waitClosed(t, ran, "callback")
	})
	t.Run("by AfterFunc alone", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		c := WithCancel(parent)
		d := c.Done()
		cancel()
		waitClosed(t, d, "Done")
		if c.Err() != context.Canceled {
			t.Fatalf("Err = %v", c.Err())
		}
	})
	t.Run("cause", func(t *testing.T) {
		why := errors.New("why")
		parent, cancel := context.WithCancelCause(context.Background())
		c := WithCancel(parent)
		g := WithCancel(c)
		cancel(why)
		waitClosed(t, g.Done(), "grandchild's Done")
		if c.Err() != context.Canceled || context.Cause(c) != why || context.Cause(g) != why {
			t.Fatalf("Err %v, Cause %v, grandchild's Cause %v", c.Err(), context.Cause(c), context.Cause(g))
		}
	})
	t.Run("ended before", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), -time.Second)
		defer cancel()
		c := WithCancel(parent)
		if c.Err() != context.DeadlineExceeded || !isClosed(c.Done()) {
			t.Fatal("a child of an ended parent is live")
		}
	})
	t.Run("child cancelled first stops following", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := WithCancel(parent)
		c.Cancel()
		if c.stopFrgn != nil {
			t.Fatal("the AfterFunc on the parent was kept")
		}
		cancel()
		if c.Err() != context.Canceled {
			t.Fatalf("Err = %v", c.Err())
		}
	})
	t.Run("never ends", func(t *testing.T) {
		c := WithCancel(context.WithoutCancel(context.WithValue(context.Background(), "k", "v")))
		if c.foreign || c.lean != nil || c.Value("k") != "v" {
			t.Fatal("a parent that cannot end is followed")
		}
		c.Cancel()
	})
}

// countingParent is a cancellable context of package context's that counts
// the calls of its AfterFunc method. It hides the context it wraps from
// Value, so that context.AfterFunc calls that method rather than register
// with the wrapped one directly.
type countingParent struct {
	context.Context
	afterFuncs atomic.Int32
}

func (p *countingParent) Value(any) any { return nil }

func (p *countingParent) AfterFunc(f func()) func() bool {
	p.afterFuncs.Add(1)
	return context.AfterFunc(p.Context, f)
}

// TestForeignParentFollowedOnceNeeded: a child of a foreign parent sets up
// no AfterFunc until something waits on it or registers with it, sees the
// parent's end through Err meanwhile, and follows it at most once.
func TestForeignParentFollowedOnceNeeded(t *testing.T) {
	newParent := func() (*countingParent, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		return &countingParent{Context: ctx}, cancel
	}
	t.Run("nothing waits", func(t *testing.T) {
		p, cancel := newParent()
		c := WithDeadline(p, time.Now().Add(time.Hour))
		if n := p.afterFuncs.Load(); n != 0 {
			t.Fatalf("%d AfterFuncs on the parent before anything waited", n)
		}
		if c.Err() != nil {
			t.Fatal("live child reports an error")
		}
		cancel()
		if c.Err() != context.Canceled || !isClosed(c.Done()) {
			t.Fatalf("Err = %v after the parent's end", c.Err())
		}
		if n := p.afterFuncs.Load(); n != 0 {
			t.Fatalf("%d AfterFuncs on the parent for a child that had ended", n)
		}
	})
	for _, tc := range []struct {
		name string
		wait func(c *Ctx) <-chan struct{} // what waits, and a channel closed at c's end
	}{
		{"Done", func(c *Ctx) <-chan struct{} { return c.Done() }},
		{"AfterFunc", func(c *Ctx) <-chan struct{} {
			ran := make(chan struct{})
			c.AfterFunc(func() { close(ran) })
			return ran
		}},
		{"Register", func(c *Ctx) <-chan struct{} {
			ran := make(chan struct{})
			c.Register(func() { close(ran) })
			return ran
		}},
		{"OnCancel", func(c *Ctx) <-chan struct{} {
			ran := make(chan struct{})
			OnCancel(c, func() { close(ran) })
			return ran
		}},
		{"lean child", func(c *Ctx) <-chan struct{} { return WithCancel(c).Done() }},
		{"package context's child", func(c *Ctx) <-chan struct{} {
			ctx, cancel := context.WithCancel(c)
			t.Cleanup(cancel)
			return ctx.Done()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, cancel := newParent()
			defer cancel()
			c := WithCancel(p)
			ended := tc.wait(c)
			if n := p.afterFuncs.Load(); n != 1 {
				t.Fatalf("%d AfterFuncs on the parent, want 1", n)
			}
			tc.wait(c)
			c.Done()
			if n := p.afterFuncs.Load(); n != 1 {
				t.Fatalf("%d AfterFuncs on the parent after more waiters, want 1", n)
			}
			cancel()
			waitClosed(t, ended, "the waiter")
			if c.Err() != context.Canceled {
				t.Fatalf("Err = %v", c.Err())
			}
		})
	}
	t.Run("ended child stops following", func(t *testing.T) {
		p, cancel := newParent()
		defer cancel()
		c := WithCancel(p)
		c.Done()
		c.Cancel()
		if c.stopFrgn != nil {
			t.Fatal("the AfterFunc on the parent was kept")
		}
		if !context.AfterFunc(p, func() {})() {
			t.Fatal("control: AfterFunc on the parent did not register")
		}
	})
	t.Run("allocations", func(t *testing.T) {
		p, cancel := context.WithCancel(context.Background())
		defer cancel()
		var c Ctx
		allocs := testing.AllocsPerRun(100, func() {
			c = Ctx{}
			c.Init(p, time.Time{})
			c.Cancel()
		})
		if allocs != 0 {
			t.Fatalf("Init under a foreign parent, then Cancel: %v allocations, want 0", allocs)
		}
	})
}

func TestFrom(t *testing.T) {
	c := WithCancel(context.Background())
	defer c.Cancel()
	wrapped := []context.Context{c, context.WithValue(c, "k", "v"), valueOnly{c}, valueOnly{context.WithValue(c, "k", "v")}}
	for _, ctx := range wrapped {
		if From(ctx) != c {
			t.Errorf("From(%v) does not find the Ctx", ctx)
		}
	}
	withCancel, cancel1 := context.WithCancel(c)
	defer cancel1()
	withCause, cancel2 := context.WithCancelCause(context.WithValue(c, "k", "v"))
	defer cancel2(nil)
	withDeadline, cancel3 := context.WithDeadline(c, time.Now().Add(time.Hour))
	defer cancel3()
	withTimeoutCause, cancel4 := context.WithTimeoutCause(c, time.Hour, errors.New("x"))
	defer cancel4()
	other := []context.Context{
		context.Background(), context.TODO(),
		withCancel, withCause, withDeadline, withTimeoutCause,
		context.WithoutCancel(c), context.WithValue(context.WithoutCancel(c), "k", "v"),
	}
	for _, ctx := range other {
		if From(ctx) != nil {
			t.Errorf("From(%v) finds a Ctx whose end is not ctx's", ctx)
		}
	}
}

// holder is a Holder whose Value must not be asked: From takes its Ctx
// from LeanContext.
type holder struct{ *Ctx }

func (h holder) LeanContext() *Ctx { return h.Ctx }
func (h holder) Value(key any) any { panic("From asked a Holder through Value") }

func TestFromHolder(t *testing.T) {
	c := WithCancel(context.Background())
	defer c.Cancel()
	if From(holder{c}) != c {
		t.Fatal("From(holder) does not find the Ctx")
	}
	c.Cancel()
	if From(holder{c}) != c {
		t.Fatal("From(holder) does not find the ended Ctx, as From finds an ended Ctx itself")
	}
}

func TestPackageContextChildren(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		c := WithCancel(context.Background())
		child, cancel := context.WithCancel(context.WithValue(c, "k", "v"))
		defer cancel()
		c.Cancel()
		// A child of a value context over a Ctx follows it through a goroutine of
		// package context's; a direct child through the AfterFunc method.
		waitClosed(t, child.Done(), "child's Done")
		direct, cancel2 := context.WithCancel(c)
		defer cancel2()
		if direct.Err() != context.Canceled || context.Cause(direct) != context.Canceled {
			t.Fatalf("child of an ended Ctx: Err %v, Cause %v", direct.Err(), context.Cause(direct))
		}
	})
	t.Run("direct child ends synchronously", func(t *testing.T) {
		c := WithCancel(context.Background())
		child, cancel := context.WithCancel(c)
		defer cancel()
		c.Cancel()
		if child.Err() != context.Canceled {
			t.Fatalf("child's Err right after the parent's Cancel = %v", child.Err())
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c := WithDeadline(context.Background(), time.Now().Add(20*time.Millisecond))
		child, cancel := context.WithCancel(c)
		defer cancel()
		waitClosed(t, child.Done(), "child's Done at the parent's deadline")
		if child.Err() != context.DeadlineExceeded {
			t.Fatalf("child's Err = %v", child.Err())
		}
	})
	t.Run("child cancelled first", func(t *testing.T) {
		c := WithCancel(context.Background())
		_, cancel := context.WithCancel(c)
		cancel()
		if len(c.regs) != 0 {
			t.Fatal("the child's AfterFunc was not removed")
		}
		c.Cancel()
	})
	t.Run("AfterFunc", func(t *testing.T) {
		c := WithCancel(context.Background())
		ran := make(chan struct{})
		context.AfterFunc(c, func() { close(ran) })
		stopped := atomic.Bool{}
		stop := context.AfterFunc(c, func() { stopped.Store(true) })
		if !stop() {
			t.Fatal("stop did not stop")
		}
		c.Cancel()
		waitClosed(t, ran, "AfterFunc")
		if stopped.Load() {
			t.Fatal("a stopped AfterFunc ran")
		}
		ran2 := make(chan struct{})
		context.AfterFunc(c, func() { close(ran2) })
		waitClosed(t, ran2, "AfterFunc on an ended Ctx")
	})
}

func TestRegistrations(t *testing.T) {
	c := WithCancel(context.Background())
	const n = 7 // past the inline room
	var ran [n]atomic.Int32
	regs := make([]Registration, n)
	for i := range n {
		regs[i] = c.Register(func() { ran[i].Add(1) })
	}
	for _, i := range []int{5, 0, 3} {
		if !regs[i].Stop() {
			t.Fatalf("Stop %d did not stop", i)
		}
		if regs[i].Stop() {
			t.Fatalf("second Stop %d reported stopping", i)
		}
	}
	c.Cancel()
	for i := range n {
		want := int32(1)
		if i == 5 || i == 0 || i == 3 {
			want = 0
		}
		if got := ran[i].Load(); got != want {
			t.Errorf("callback %d ran %d times, want %d", i, got, want)
		}
	}
	if regs[1].Stop() {
		t.Fatal("Stop after the callback ran reported stopping")
	}
	if (Registration{}).Stop() {
		t.Fatal("zero Registration's Stop reported stopping")
	}
}

func TestOnCancel(t *testing.T) {
	c := WithCancel(context.Background())
	var runs atomic.Int32
	stop := OnCancel(context.WithValue(c, "k", "v"), func() { runs.Add(1) })
	stop2 := OnCancel(c, func() { runs.Add(10) })
	if !stop2() {
		t.Fatal("stop did not stop")
	}
	c.Cancel()
	if runs.Load() != 1 {
		t.Fatalf("runs = %d; a lean context runs callbacks before Cancel returns", runs.Load())
	}
	if stop() {
		t.Fatal("stop after the run reported stopping")
	}

	std, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	OnCancel(std, func() { close(ran) })
	r := Watch(std, func() { t.Error("stopped callback ran") })
	if !r.Stop() {
		t.Fatal("Watch's Stop on a foreign context did not stop")
	}
	cancel()
	waitClosed(t, ran, "OnCancel on a foreign context")
}

func TestValue(t *testing.T) {
	type key struct{}
	c := WithDeadline(context.WithValue(context.Background(), key{}, 42), time.Now().Add(time.Hour))
	defer c.Cancel()
	if c.Value(key{}) != 42 || c.Value("missing") != nil {
		t.Fatal("Value does not reach the parent")
	}
	if fmt.Sprint(c) == "" {
		t.Fatal("no String")
	}
}

// Every callback runs exactly once, whoever ends the context and however
// many try at once: Cancel, the parent's end, Err past the deadline, the
// timer.
func TestEndsOnceUnderRace(t *testing.T) {
	for range 200 {
		p := WithCancel(context.Background())
		c := WithDeadline(p, time.Now().Add(time.Millisecond))
		var runs, stopped atomic.Int32
		var wg sync.WaitGroup
		const regs = 8
		ran := make(chan struct{}, 2*regs)
		for range regs {
			wg.Go(func() {
				r := c.Register(func() { runs.Add(1); ran <- struct{}{} })
				if r.Stop() {
					stopped.Add(1)
				}
			})
		}
		wg.Go(func() { c.Cancel() })
		wg.Go(func() { p.Cancel() })
		wg.Go(func() {
			if c.Err() != nil && !isClosed(c.Done()) {
				t.Error("Err set, Done open")
			}
		})
		wg.Go(func() { c.Err() })
		for range 2 {
			wg.Go(func() {
				<-c.Done()
				if c.Err() == nil {
					t.Error("Done closed, Err nil")
				}
			})
		}
		wg.Go(func() { context.AfterFunc(c, func() {}) })
		wg.Wait()
		// A callback that Stop found running may still be running: the
		// timer armed by Done ends c in a goroutine of its own, which wg
		// does not wait for. Stop's false promises the run, not its end.
		for range regs - int(stopped.Load()) {
			select {
			case <-ran:
			case <-time.After(10 * time.Second):
				t.Fatalf("%d callbacks ran and %d were stopped, of %d, after 10 s", runs.Load(), stopped.Load(), regs)
			}
		}
		if got := runs.Load() + stopped.Load(); got != regs {
			t.Fatalf("%d callbacks ran and %d were stopped, of %d", runs.Load(), stopped.Load(), regs)
		}
		if c.Err() == nil || !isClosed(c.Done()) {
			t.Fatal("not ended")
		}
	}
}

// scenario builds a parent, a child with (maybe) a deadline, and ends
// something, the same way for package context and for leanctx.
type scenario struct {
	name   string
	parent string        // "background", "std", "lean"
	child  time.Duration // 0: WithCancel; else WithDeadline(now+child)
	act    string        // "none", "cancel child", "cancel parent", "wait deadline"
}

type result struct {
	err         error
	cause       error
	hasDeadline bool
	done        bool
	value       any
}

func run(sc scenario, lean bool) result {
	var parent context.Context = context.WithValue(context.Background(), "k", "v")
	var cancelParent func()
	switch sc.parent {
	case "std":
		var cancel context.CancelCauseFunc
		parent, cancel = context.WithCancelCause(parent)
		cancelParent = func() { cancel(errors.New("parent's cause")) }
	case "lean":
		p := WithCancel(parent)
		parent, cancelParent = p, p.Cancel
	default:
		cancelParent = func() {}
	}
	var child context.Context
	var cancel func()
	var deadline time.Time
	if sc.child != 0 {
		deadline = time.Now().Add(sc.child)
	}
	if lean {
		c := WithDeadline(parent, deadline)
		child, cancel = c, c.Cancel
	} else if sc.child != 0 {
		child, cancel = context.WithDeadline(parent, deadline)
	} else {
		child, cancel = context.WithCancel(parent)
	}
	defer cancel()
	defer cancelParent()
	switch sc.act {
	case "cancel child":
		cancel()
	case "cancel parent":
		cancelParent()
	case "wait deadline":
		sleepUntil(deadline)
	}
	r := result{value: child.Value("k")}
	_, r.hasDeadline = child.Deadline()
	if sc.act != "none" {
		// Every one of these ends the child, at once or shortly.
		select {
		case <-child.Done():
		case <-time.After(waitTimeout):
		}
	}
	r.done = isClosed(child.Done())
	r.err = child.Err()
	if c := context.Cause(child); c != nil {
		r.cause = errors.New(c.Error()) // comparable by text
	}
	return r
}

func TestDifferential(t *testing.T) {
	var scs []scenario
	for _, p := range []string{"background", "std", "lean"} {
		for _, d := range []time.Duration{0, time.Hour, -time.Second, 20 * time.Millisecond} {
			for _, act := range []string{"none", "cancel child", "cancel parent", "wait deadline"} {
				if act == "wait deadline" && d != 20*time.Millisecond {
					continue
				}
				if act == "cancel parent" && p == "background" {
					continue // nothing to cancel
				}
				if act == "none" && d == 20*time.Millisecond {
					continue // ends by itself, at a moment the two may see apart
				}
				scs = append(scs, scenario{fmt.Sprintf("%s/%v/%s", p, d, act), p, d, act})
			}
		}
	}
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			want, got := run(sc, false), run(sc, true)
			same := want.err == got.err && want.hasDeadline == got.hasDeadline && want.done == got.done &&
				want.value == got.value && fmt.Sprint(want.cause) == fmt.Sprint(got.cause)
			if !same {
				t.Fatalf("package context: %+v\nleanctx:         %+v", want, got)
			}
		})
	}
}

func BenchmarkRequestContexts(b *testing.B) {
	b.Run("context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, cancel := context.WithCancel(context.Background())
			bud, cancel2 := context.WithDeadline(req, time.Now().Add(time.Second))
			stop := context.AfterFunc(bud, func() {})
			stop()
			cancel2()
			cancel()
		}
	})
	b.Run("leanctx", func(b *testing.B) {
		b.ReportAllocs()
		f := func() {}
		for b.Loop() {
			req := WithCancel(context.Background())
			bud := WithDeadline(req, time.Now().Add(time.Second))
			r := bud.Register(f)
			r.Stop()
			bud.Cancel()
			req.Cancel()
		}
	})
}

// mapValuer answers for the keys of its map.
type mapValuer map[any]any

func (m mapValuer) LookupValue(key any) (any, bool) {
	v, ok := m[key]
	return v, ok
}

// Extend adds values in place, ahead of the parent's, once: the keys it
// does not hold, and the key package context finds a Ctx by, still reach
// the Ctx and its parent.
func TestExtend(t *testing.T) {
	type key string
	parent := context.WithValue(context.Background(), key("p"), "parent")
	c := WithCancel(parent)
	if c.Extend(nil) {
		t.Fatal("extended with nil")
	}
	if !c.Extend(mapValuer{key("a"): "ext", key("p"): "shadow"}) {
		t.Fatal("first Extend refused")
	}
	if c.Extend(mapValuer{key("b"): "second"}) {
		t.Fatal("second Extend accepted")
	}
	for k, want := range map[key]any{"a": "ext", "p": "shadow", "b": nil} {
		if got := c.Value(k); got != want {
			t.Errorf("Value(%q) = %v, want %v", k, got, want)
		}
	}
	child := context.WithValue(c, key("c"), "child")
	if child.Value(key("a")) != "ext" || From(child) != c {
		t.Errorf("through a value child: Value(a) = %v, From = %p, want ext and %p", child.Value(key("a")), From(child), c)
	}
	c.Cancel()
	if context.Cause(child) != context.Canceled {
		t.Errorf("Cause = %v, want context.Canceled", context.Cause(child))
	}
}
