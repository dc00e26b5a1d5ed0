package budget

import (
	"context"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/requestid"
)

// Info describes the budget of the request a context belongs to.
type Info struct {
	// Deadline is when the budget runs out, on this host's clock.
	Deadline time.Time
	// Received is the budget this hop was given when the request arrived: the
	// originated budget at the gateway, the decoded header at a backend.
	Received time.Duration
	// Hop is this hop's position in the chain: 0 at the gateway, 1 at the
	// first backend, and so on.
	Hop int
	// Retries counts the retries spent on the path to this hop.
	Retries int
	// Caller is who the request's work is done for (Header.Caller): at the
	// gateway the client it told apart, at a backend the one the field
	// named; the zero Addr when none was named. Outgoing sends it on.
	Caller netip.Addr
}

// Remaining returns the time left at now; it may be negative.
func (i Info) Remaining(now time.Time) time.Duration { return i.Deadline.Sub(now) }

type ctxKey struct{}

// NewContext returns a child of ctx that carries info and whose deadline is
// info.Deadline (or ctx's own, if that is earlier). The cancel function must
// be called, as with context.WithDeadline.
func NewContext(ctx context.Context, info Info) (context.Context, context.CancelFunc) {
	c := newContext(ctx, info, "", time.Time{})
	return c, c.lean.Cancel
}

// NewContextAt is NewContext for a caller that has just read the clock, at
// now, to check the budget left (as the gateway's router does): a lean
// deadline context takes its first look at the deadline at now rather than
// reading the clock again (see leanctx.Ctx.InitAt). now must be that fresh
// reading of time.Now, never an older time nor another clock's; a zero now
// makes it NewContext.
func NewContextAt(ctx context.Context, info Info, now time.Time) (context.Context, context.CancelFunc) {
	c := newContext(ctx, info, "", now)
	return c, c.lean.Cancel
}

// A Scope is a budget's context and its end in one value, as NewScopeAt
// returns it: a CancelFunc is a function value bound to the context, one
// allocation more on every request, where a Scope's Cancel is a method.
type Scope interface {
	context.Context
	// Cancel ends the context, as the CancelFunc of NewContext does. It
	// may be called more than once.
	Cancel()
}

// NewScopeAt is NewContextAt, its context and cancel function returned as
// one Scope: the gateway's router makes one for every request.
func NewScopeAt(ctx context.Context, info Info, now time.Time) Scope {
	return newContext(ctx, info, "", now)
}

// newContext makes the context of NewContext; a zero now means the clock
// has not been read. The deadline is a lean context's, inline, whatever the
// parent: it arms no timer unless someone waits on Done, and under a parent
// of package context's (net/http's request context, at a backend) it
// follows the parent only once something waits on it or registers with it
// (package leanctx), where context.WithDeadline cost a timer, a cancel
// context and an entry in the parent's children on every request.
func newContext(ctx context.Context, info Info, requestID string, now time.Time) *infoCtx {
	c := &infoCtx{info: info, requestID: requestID}
	if now.IsZero() {
		c.lean.Init(ctx, info.Deadline)
	} else {
		c.lean.InitAt(ctx, info.Deadline, now)
	}
	c.Context = &c.lean
	return c
}

// infoCtx carries an Info inline: one allocation where context.WithValue
// would take two (the context and the boxed Info), on every request. At a
// backend it carries the request's id too (requestid.FromContext), for the
// same price. It holds its deadline context too, a leanctx.Ctx, as its
// Context.
type infoCtx struct {
	context.Context
	info      Info
	requestID string
	lean      leanctx.Ctx // Context, which points here
}

// AfterFunc lets package context follow an infoCtx with a child of its own
// through the lean context's AfterFunc, rather than with a goroutine per
// child (the way it follows any other context type of its own).
func (c *infoCtx) AfterFunc(f func()) (stop func() bool) { return c.lean.AfterFunc(f) }

// Cancel ends the context: its Scope's Cancel.
func (c *infoCtx) Cancel() { c.lean.Cancel() }

// LeanContext returns the deadline context whose end is c's end: c adds
// values alone (leanctx.Holder).
func (c *infoCtx) LeanContext() *leanctx.Ctx { return &c.lean }

func (c *infoCtx) Value(key any) any {
	if _, ok := key.(ctxKey); ok { // not key == ctxKey{}: see requestid.IsContextKey
		return c
	}
	if requestid.IsContextKey(key) && c.requestID != "" {
		return requestIDOf{c} // a requestid.Carrier: the string would be boxed on every call
	}
	return c.Context.Value(key)
}

// requestIDOf is the requestid.Carrier of an infoCtx. It is a type of its
// own, not a method of infoCtx, so that the Carrier is there only when the
// context holds an id: one with none must let the parent's answer through.
type requestIDOf struct{ c *infoCtx }

func (r requestIDOf) RequestID() string { return r.c.requestID }

// FromContext returns the budget information of ctx's request. ok is false
// for a context that no budget reached: one NewContext did not derive.
func FromContext(ctx context.Context) (info Info, ok bool) {
	if c, ok := ctx.Value(ctxKey{}).(*infoCtx); ok {
		return c.info, true
	}
	return Info{}, false
}

// Outgoing computes the Sluice-Budget header for one attempt to the next hop,
// at the moment of sending: the time left to ctx's deadline at now, less the
// per-hop margin, with the hop number after this one, the retries spent on
// the path so far plus retries, the retries this hop has made for this call,
// and the caller the work is done for.
//
// A context with no deadline gets fallback as its budget. Outgoing returns
// ErrSpent when less than a millisecond would be left to send.
func Outgoing(ctx context.Context, now time.Time, margin, fallback time.Duration, retries int) (Header, error) {
	return OutgoingWithin(ctx, time.Time{}, now, margin, fallback, retries)
}

// OutgoingWithin is Outgoing for an attempt that must also end by
// deadline, when it is not zero and earlier than ctx's: the budget sent is
// then what is left to deadline, as Outgoing would compute it for a context
// derived from ctx with that deadline, without deriving one.
func OutgoingWithin(ctx context.Context, deadline, now time.Time, margin, fallback time.Duration, retries int) (Header, error) {
	info, _ := FromContext(ctx)
	left := fallback
	if d, ok := ctx.Deadline(); ok {
		if !deadline.IsZero() && deadline.Before(d) {
			d = deadline
		}
		left = d.Sub(now)
	} else if !deadline.IsZero() {
		left = deadline.Sub(now)
	}
	left -= margin
	if left < time.Millisecond {
		return Header{}, ErrSpent
	}
	return Header{Remaining: left, Hop: info.Hop + 1, Retries: info.Retries + retries, Caller: info.Caller}, nil
}
