// Package leanctx is a cancellable context with an optional deadline that
// costs one allocation and arms no timer unless someone waits on it.
//
// # Why
//
// A proxied request used to make three standard-library contexts: package
// server's cancellable request context, the budget's deadline context
// (context.WithDeadline: a runtime timer, the context, its cancel function,
// a children map in its parent) and, in upstream/h1, a context.AfterFunc per
// round trip (another context, a stop function, the parent's Done channel
// and another map entry). Most requests end long before their deadline, and
// nobody waits on their Done channel: the connection that carries the round
// trip enforces the deadline itself (upstream/h1 closes it then). A Ctx pays
// for those things only when they are used:
//
//   - it is one object: cancellation callbacks live in a small slice
//     inside it (OnCancel, Ctx.Register), a lean child registers there
//     directly, with no closure;
//   - it arms no timer for its deadline. Deadline reports it; Err reports
//     context.DeadlineExceeded once it has passed (and ends the context
//     then); a timer is armed only when Done or the AfterFunc method (which
//     package context uses for a child) is called, since only those can
//     wait for the deadline;
//   - its Done channel is made when Done is first called.
//
// For every other consumer it is a context.Context like those of package
// context: see the semantics below.
//
// # Semantics
//
// A Ctx ends, once, with Err context.Canceled when Cancel is called, with
// context.DeadlineExceeded at its deadline, or with its parent's Err when
// its parent ends. Its deadline is the earlier of its own and its parent's.
// Once it has ended, Done is closed, Err is not nil, and every registered
// callback has run or is running; context.Cause returns the parent's cause
// when the end came from a parent that had one, else Err.
//
// The end at the deadline is observed, not scheduled: it happens when Err
// is called at or after the deadline, or when the timer fires that Done or
// AfterFunc armed. A callback registered with OnCancel or Register alone is
// therefore not run at the deadline: whoever registers one must enforce
// Deadline itself (upstream/h1 closes its connection by a timer of its own,
// which it keeps for the connection's life). Done and the AfterFunc method
// do arm the timer, so any consumer that waits (a select on Done, a
// child made by package context, context.AfterFunc) sees the end at the
// deadline, as with context.WithDeadline.
//
// Callbacks run in the goroutine that ends the context (the one calling
// Cancel, the timer's, one whose Err found the deadline passed, or the
// parent's ender), after its locks are released, not in a goroutine of
// their own as with context.AfterFunc: they must be quick and must not wait
// for that goroutine. A parent that is a Ctx (or a context that only adds
// values to one) ends its lean children synchronously; any other parent
// that can end is followed with context.AfterFunc, whose goroutine ends the
// child shortly after, and the child's Err checks the parent's meanwhile.
// That AfterFunc too is paid only when used: it is set up by the first
// Done, AfterFunc, Register (or OnCancel) or lean child, and a child that
// nothing waits on learns of its parent's end through Err alone (under
// net/http's server, whose request contexts are package context's, a
// backend's handler that never waits on its context spares it).
package leanctx

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Ctx is a cancellable context with an optional deadline. Make one with
// WithCancel, WithDeadline or Init; it must not be copied after.
type Ctx struct {
	parent   context.Context
	deadline time.Time // the earlier of its own and the parent's; zero: none

	ended atomic.Bool  // set once err and cause are final, just before done is closed
	done  atomic.Value // chan struct{}, made lazily

	mu        sync.Mutex
	err       error
	cause     error       // a parent's cause, when the end came with one; nil: err
	timer     *time.Timer // armed by Done or AfterFunc when there is a deadline
	lean      *Ctx        // the lean parent it is registered with, or nil
	leanID    uint64      // its registration there
	foreign   bool        // the parent can end and is not lean: followed by AfterFunc once needed
	following bool        // follow has asked for the AfterFunc on the foreign parent
	stopFrgn  func() bool // the AfterFunc on a foreign parent
	causeVal  any         // what Value answers for cancelKey once ended with a cause
	regs      []entry     // callbacks and lean children; nil once ended
	inline    [2]entry    // regs' first backing array
	nextID    uint64
	waited    bool   // Done or AfterFunc was called while live
	ext       Valuer // answers Value first, once Extend has set it
}

// A Valuer answers Value for the keys it holds, found false for any other.
type Valuer interface {
	LookupValue(key any) (v any, found bool)
}

// Extend makes v answer c's Value, for the keys v holds, before c and its
// parent do, as a context wrapping c with those values would, and reports
// whether it did: false, with nothing changed, once c has been extended.
//
// Why: a request's middleware that adds values to its context (the
// request id's, the gateway's Recorder) wraps the context and calls
// Request.WithContext, which copies the *http.Request, about 350 bytes, on
// every request, and every Value asked of the wrapper's children walks one
// context more. Extending the request's own context (package server's, a
// Ctx) adds the values in place.
//
// It is the one method that changes what c answers, so it must be called
// by the goroutine that owns c before c reaches any goroutine that may ask
// it for a value: package server's request goroutine, in the first
// middleware that adds values, is such an owner for its request's context.
func (c *Ctx) Extend(v Valuer) bool {
	if c.ext != nil || v == nil {
		return false
	}
	c.ext = v
	return true
}

// entry is a callback or a lean child to end.
type entry struct {
	id    uint64
	f     func()
	child *Ctx
}

// closedchan is the Done channel of a Ctx that ended before anyone asked.
var closedchan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// WithCancel returns a Ctx that ends when its Cancel is called or parent
// ends, with parent's deadline.
func WithCancel(parent context.Context) *Ctx {
	c := new(Ctx)
	c.Init(parent, time.Time{})
	return c
}

// WithDeadline returns a Ctx that ends when its Cancel is called, parent
// ends, or d passes (a zero d is no deadline of its own), whichever comes
// first. No timer is armed for d unless Done or AfterFunc is called: see
// the package documentation.
func WithDeadline(parent context.Context, d time.Time) *Ctx {
	c := new(Ctx)
	c.Init(parent, d)
	return c
}

// Init makes c, a zero Ctx that the caller embeds in a struct of its own to
// spare an allocation, what WithDeadline(parent, d) returns. It must be
// called once, before any other method, and c must not be copied after.
func (c *Ctx) Init(parent context.Context, d time.Time) { c.InitAt(parent, d, time.Time{}) }

// InitAt is Init for a caller that has just read the clock: c ends at once
// if its deadline is not after now, instead of after a reading of its own.
// A deadline that passes between that reading and the call is observed
// later, by Err or the timer of Done, as one passing right after Init
// would be: now must be a reading taken just before, never an older time
// kept for other uses. A zero now makes it Init, which reads the clock only
// when there is a deadline.
func (c *Ctx) InitAt(parent context.Context, d, now time.Time) {
	if parent == nil {
		panic("leanctx: nil parent")
	}
	c.parent = parent
	c.regs = c.inline[:0]
	if pd, ok := parent.Deadline(); ok && (d.IsZero() || pd.Before(d)) {
		d = pd
	}
	c.deadline = d
	if p := From(parent); p != nil {
		p.mu.Lock()
		if !p.ended.Load() {
			c.lean = p
			c.leanID = p.addLocked(entry{child: c})
			p.mu.Unlock()
			p.follow()
		} else {
			err, cause := p.err, p.cause
			p.mu.Unlock()
			c.end(err, cause, true)
			return
		}
	} else if parent.Done() != nil {
		if err := parent.Err(); err != nil {
			c.end(err, context.Cause(parent), true)
			return
		}
		// Followed (context.AfterFunc, a few allocations and an entry in
		// the parent's children) only once something needs its end pushed:
		// see follow. Err checks the parent meanwhile.
		c.foreign = true
	}
	if !d.IsZero() && !clockAt(now).Before(d) {
		c.end(context.DeadlineExceeded, nil, false)
	}
}

// clockAt returns now, or a reading of the clock when now is zero.
func clockAt(now time.Time) time.Time {
	if now.IsZero() {
		return time.Now()
	}
	return now
}

// follow makes a foreign parent's end end c, once: with context.AfterFunc,
// whose goroutine ends c shortly after the parent. It is called by what
// waits for c's end or must run at it (Done, AfterFunc, Register, a lean
// child): until then nothing needs the end pushed, since Err checks the
// parent itself, and a request whose handler never waits on its context
// spares the AfterFunc. It is called without c.mu
// held: context.AfterFunc may call a method of the parent's own that
// runs f at once.
func (c *Ctx) follow() {
	if !c.foreign {
		return
	}
	c.mu.Lock()
	if c.following || c.ended.Load() {
		c.mu.Unlock()
		return
	}
	c.following = true
	c.mu.Unlock()
	stop := context.AfterFunc(c.parent, c.parentEnded)
	c.mu.Lock()
	if c.ended.Load() {
		// end ran meanwhile and found no stop function to call.
		c.mu.Unlock()
		stop()
		return
	}
	c.stopFrgn = stop
	c.mu.Unlock()
}

// parentEnded ends c after its foreign parent.
func (c *Ctx) parentEnded() {
	c.end(c.parent.Err(), context.Cause(c.parent), true)
}

// Cancel ends c with context.Canceled, unless it has ended already. It may
// be called more than once, from any goroutine.
func (c *Ctx) Cancel() { c.end(context.Canceled, nil, false) }

// end ends c with err and cause (nil when none but err), runs its callbacks
// and ends its children; fromParent says its parent's end ends it, which
// then forgets it by itself.
func (c *Ctx) end(err, cause error, fromParent bool) {
	c.mu.Lock()
	if c.ended.Load() {
		c.mu.Unlock()
		return
	}
	// ended first, so that a waiter woken by Done finds Err set; Err
	// waits for Done in turn, so that no one sees Err set and Done open.
	c.err, c.cause = err, cause
	c.ended.Store(true)
	if d, _ := c.done.Load().(chan struct{}); d != nil {
		close(d)
	} else {
		c.done.Store(closedchan)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	regs := c.regs
	c.regs = nil
	lean, leanID, stop := c.lean, c.leanID, c.stopFrgn
	c.lean, c.stopFrgn = nil, nil
	c.mu.Unlock()

	if lean != nil && !fromParent {
		lean.remove(leanID)
	}
	if stop != nil {
		stop()
	}
	for _, e := range regs {
		if e.child != nil {
			e.child.end(err, cause, true)
		} else {
			e.f()
		}
	}
}

// expire ends c at its deadline; Done's and AfterFunc's timer runs it.
func (c *Ctx) expire() { c.end(context.DeadlineExceeded, nil, false) }

// Deadline returns the earlier of c's deadline and its parent's.
func (c *Ctx) Deadline() (deadline time.Time, ok bool) {
	return c.deadline, !c.deadline.IsZero()
}

// Done returns a channel closed when c ends. The first call makes it, and,
// when c has a deadline, arms a timer that ends c then.
func (c *Ctx) Done() <-chan struct{} {
	if d := c.done.Load(); d != nil {
		return d.(chan struct{})
	}
	c.mu.Lock()
	d, _ := c.done.Load().(chan struct{})
	if d == nil {
		d = make(chan struct{})
		c.done.Store(d)
		c.waited = true
		c.armLocked()
	}
	c.mu.Unlock()
	c.follow()
	return d
}

// armLocked arms the deadline's timer, once, while c has not ended. A
// deadline already passed fires it at once, in the timer's goroutine: the
// callers may hold locks its callbacks take.
func (c *Ctx) armLocked() {
	if c.timer == nil && !c.deadline.IsZero() && !c.ended.Load() {
		c.timer = time.AfterFunc(time.Until(c.deadline), c.expire)
	}
}

// Err returns nil while c has not ended, else why it did. Called at or
// after the deadline, it ends c with context.DeadlineExceeded (running its
// callbacks in the caller's goroutine); with a foreign parent that has
// ended, it ends c with the parent's error.
func (c *Ctx) Err() error { return c.ErrAt(time.Time{}) }

// ErrAt is Err with now as the current time, for a caller that has just
// read the clock and would otherwise make Err read it again: at or after
// the deadline, it ends c with context.DeadlineExceeded. now must be a
// reading taken after every event the caller wants the answer to cover
// (the end of an attempt, say), never an older time: one read before the
// deadline passed reports nil although Err would not. A zero now makes it
// Err, which reads the clock only when c has a deadline and has not ended.
func (c *Ctx) ErrAt(now time.Time) error {
	if c.ended.Load() {
		<-c.Done() // closed by now, or in a moment by end
		return c.err
	}
	if !c.deadline.IsZero() && !clockAt(now).Before(c.deadline) {
		c.expire()
		return c.err
	}
	if c.foreign {
		if err := c.parent.Err(); err != nil {
			c.end(err, context.Cause(c.parent), true)
			return c.err
		}
	}
	return nil
}

// Value returns the parent's value for key. To package context's key of its
// own cancellation it answers c itself, which is how From finds c through
// contexts that only add values, and package context finds no *cancelCtx
// there (context.Cause then returns Err), or, once c ended with a cause of
// its parent's, one that gives context.Cause that cause.
func (c *Ctx) Value(key any) any {
	if c.ext != nil {
		if v, ok := c.ext.LookupValue(key); ok {
			return v
		}
	}
	if cancelKey != nil && key == cancelKey {
		if c.ended.Load() && c.cause != nil {
			return c.causeValue()
		}
		return c
	}
	return c.parent.Value(key)
}

// causeValue returns a value of package context's own for cancelKey that
// holds c's cause, made once.
func (c *Ctx) causeValue() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.causeVal == nil {
		cc, cancel := context.WithCancelCause(context.Background())
		cancel(c.cause)
		c.causeVal = cc.Value(cancelKey)
	}
	return c.causeVal
}

// AfterFunc runs f once c ends, in the goroutine that ends it (in a
// goroutine of its own if c has ended already), and arms the deadline's
// timer as Done does. It is there for package context, which uses it to
// follow c with a child of its own and, through it, for context.AfterFunc;
// the returned function stops f, as context.AfterFunc's does.
func (c *Ctx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.ended.Load() {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	id := c.addLocked(entry{f: f})
	c.waited = true
	c.armLocked()
	c.mu.Unlock()
	c.follow()
	return func() bool { return c.remove(id) }
}

// Register arranges for f to run once c ends, at once in the caller's
// goroutine if it has already, and returns the registration, whose Stop
// undoes it. Unlike AfterFunc it arms no timer: f does not run at the
// deadline unless something else armed one or Err observed it, so the
// caller must enforce Deadline itself. It allocates nothing but when the
// registrations outgrow c's room for two.
func (c *Ctx) Register(f func()) Registration {
	c.mu.Lock()
	if c.ended.Load() {
		c.mu.Unlock()
		f()
		return Registration{}
	}
	id := c.addLocked(entry{f: f})
	c.mu.Unlock()
	c.follow()
	return Registration{c: c, id: id}
}

// addLocked adds e and returns its id.
func (c *Ctx) addLocked(e entry) uint64 {
	c.nextID++
	e.id = c.nextID
	c.regs = append(c.regs, e)
	return e.id
}

// remove drops the registration id and reports whether it was there, so
// that it will never run. The last entry takes its place: the order of
// callbacks is unspecified.
func (c *Ctx) remove(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.regs {
		if e.id == id {
			last := len(c.regs) - 1
			c.regs[i] = c.regs[last]
			c.regs[last] = entry{}
			c.regs = c.regs[:last]
			return true
		}
	}
	return false
}

// Waited reports whether Done or AfterFunc has been called on c while it
// was live: whether a timer may have been armed for its deadline. It is
// there for tests of code meant to follow c without (upstream/h1's).
func (c *Ctx) Waited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waited
}

// String describes c, as package context's contexts describe themselves.
func (c *Ctx) String() string {
	if c.deadline.IsZero() {
		return "leanctx.WithCancel"
	}
	return "leanctx.WithDeadline(" + c.deadline.String() + ")"
}

// Registration is a callback registered by Register or OnCancel.
type Registration struct {
	c    *Ctx
	id   uint64
	stop func() bool // context.AfterFunc's, for a context that is not lean
}

// Stop undoes the registration. It reports whether it stopped the callback
// from running: false if the callback has run or is running, or Stop was
// called before. A zero Registration's Stop reports false.
func (r Registration) Stop() bool {
	switch {
	case r.c != nil:
		return r.c.remove(r.id)
	case r.stop != nil:
		return r.stop()
	}
	return false
}

// OnCancel arranges for f to run once ctx ends, as context.AfterFunc does,
// and returns the function that stops it. When ctx is lean (From finds a
// Ctx) f is registered there (see Ctx.Register: no timer, f runs in the
// goroutine that ends ctx, and at once if it has ended); otherwise it is
// context.AfterFunc(ctx, f).
func OnCancel(ctx context.Context, f func()) (stop func() bool) {
	if c := From(ctx); c != nil {
		return c.Register(f).Stop
	}
	return context.AfterFunc(ctx, f)
}

// ErrAt returns ctx.Err(), judging the deadline of a lean ctx (one From
// finds) at now instead of a reading of the clock of its own: see
// Ctx.ErrAt, whose rule for now holds here too (a zero now makes it
// ctx.Err()). Any other context answers its own Err.
func ErrAt(ctx context.Context, now time.Time) error {
	if c := From(ctx); c != nil {
		return c.ErrAt(now)
	}
	return ctx.Err()
}

// Watch is OnCancel returning the registration as a value, which spares the
// stop function's allocation.
func Watch(ctx context.Context, f func()) Registration {
	if c := From(ctx); c != nil {
		return c.Register(f)
	}
	return Registration{stop: context.AfterFunc(ctx, f)}
}

// From returns the Ctx whose end is ctx's end: ctx itself, or the Ctx that
// ctx wraps with values only (context.WithValue, or a type of its own that
// embeds it and overrides Value alone). It returns nil for any other
// context, including a child that package context made of a Ctx (which
// answers package context's key itself): such a child can end earlier.
//
// A context type of its own that embeds a Ctx (or a context that only
// adds values to one) and ends earlier than it, overriding Done and Err but
// passing every Value on, would be taken for the Ctx: no such type is in
// Sluice or in package context.
func From(ctx context.Context) *Ctx {
	if c, ok := ctx.(*Ctx); ok {
		return c
	}
	if h, ok := ctx.(Holder); ok {
		return h.LeanContext()
	}
	if cancelKey == nil {
		return nil
	}
	c, _ := ctx.Value(cancelKey).(*Ctx)
	return c
}

// Holder is a context that ends when, and only when, the Ctx it holds
// ends: a type of its own that embeds a Ctx and adds values alone (package
// budget's request context). From asks it for the Ctx, where it would
// otherwise ask through Value, a walk down the context's values taken a few
// times on every request.
type Holder interface {
	context.Context
	// LeanContext returns the Ctx whose end is the context's end.
	LeanContext() *Ctx
}

// cancelKey is the key that package context's own cancellable contexts
// answer with themselves (context.Cause and context.WithCancel ask for it),
// found by asking context.Cause about a context that notes the key asked.
// It is nil if that failed (From then finds only a Ctx itself).
var cancelKey = func() any {
	p := &keyProbe{}
	context.Cause(p)
	if p.key == nil {
		return nil
	}
	// Package context's own answer to it must be the context itself.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if ctx.Value(p.key) != any(ctx) {
		return nil
	}
	return p.key
}()

// keyProbe is an ended context that notes the first key asked of it.
type keyProbe struct{ key any }

func (*keyProbe) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*keyProbe) Done() <-chan struct{}       { return closedchan }
func (*keyProbe) Err() error                  { return context.Canceled }
func (p *keyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}
