package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// A stream route carries answers that last as long as both ends want them
// (server-sent events, long polls, chunked feeds), which a unary budget of
// seconds would cut. On such a route the budget is replaced by two bounds:
// an idle timeout, which ends the stream when no byte has crossed it either
// way (from the backend's answer or the client's body) for that long, and a
// maximum lifetime, which ends it however busy it is. The maximum lifetime
// is the stream's budget: the backend receives the time left of it in its
// Sluice-Budget field, as a unary request receives its budget, and the
// client's own budget fields are neither read nor forwarded. The write idle
// timeout (Options.WriteIdleTimeout) still bounds each write to a client
// that stops reading.

// Defaults of a StreamPolicy's zero fields.
const (
	// DefaultStreamIdleTimeout is StreamPolicy.IdleTimeout's default.
	DefaultStreamIdleTimeout = 5 * time.Minute
	// DefaultStreamMaxLifetime is StreamPolicy.MaxLifetime's default.
	DefaultStreamMaxLifetime = time.Hour
)

// StreamPolicy marks a route as a stream route and bounds its streams.
type StreamPolicy struct {
	// IdleTimeout ends a stream through which no byte passed, either way,
	// for this long. Zero means DefaultStreamIdleTimeout.
	IdleTimeout time.Duration
	// MaxLifetime ends a stream this long after its request arrived. Zero
	// means DefaultStreamMaxLifetime.
	MaxLifetime time.Duration
}

// WithDefaults returns p with its zero fields set to their defaults.
func (p StreamPolicy) WithDefaults() StreamPolicy {
	if p.IdleTimeout == 0 {
		p.IdleTimeout = DefaultStreamIdleTimeout
	}
	if p.MaxLifetime == 0 {
		p.MaxLifetime = DefaultStreamMaxLifetime
	}
	return p
}

// Validate reports a policy whose bounds are negative.
func (p StreamPolicy) Validate() error {
	if p.IdleTimeout < 0 {
		return errors.New("idle_timeout must not be negative")
	}
	if p.MaxLifetime < 0 {
		return errors.New("max_lifetime must not be negative")
	}
	return nil
}

// errStreamIdle is the cause of a stream context ended by its idle timeout.
var errStreamIdle = errors.New("router: stream idle timeout: no byte either way")

// streamContext returns the context of a stream that arrived at start, made
// for caller: its budget is the maximum lifetime, and its idle watch, which
// the stream's bodies touch on every read, cancels it with errStreamIdle.
// stop must be called when the stream ends.
func (h *routeHandler) streamContext(parent context.Context, start time.Time, caller netip.Addr) (ctx context.Context, w *idleWatch, stop func()) {
	p := h.route.Stream.WithDefaults()
	info := budget.Info{Deadline: start.Add(p.MaxLifetime), Received: p.MaxLifetime, Caller: caller}
	bctx, cancelBudget := budget.NewContext(parent, info)
	cctx, cancel := context.WithCancelCause(bctx)
	w = &idleWatch{idle: p.IdleTimeout}
	w.timer = time.AfterFunc(p.IdleTimeout, func() { cancel(errStreamIdle) })
	ctx = &streamCtx{Context: cctx, watch: w}
	return ctx, w, func() {
		// The context ends first, at once; the watch's stop may wait for
		// a touch under way.
		cancel(nil)
		cancelBudget()
		w.stop()
	}
}

// streamCtx carries a stream's idle watch, for the answer's body to touch.
type streamCtx struct {
	context.Context
	watch *idleWatch
}

type idleKey struct{}

func (c *streamCtx) Value(key any) any {
	if key == (idleKey{}) {
		return c.watch
	}
	return c.Context.Value(key)
}

// watchOf returns the idle watch of ctx's stream, or nil.
func watchOf(ctx context.Context) *idleWatch {
	w, _ := ctx.Value(idleKey{}).(*idleWatch)
	return w
}

// idleWatch is a stream's idle timer, pushed back on every byte until the
// stream ends. A read of the request's body may still touch it after the
// handler has returned: the watch is stopped under its mutex, so that such
// a touch, even one between its timer's Stop and Reset as stop runs, leaves
// no timer armed after the stream.
type idleWatch struct {
	mu      sync.Mutex
	timer   idleTimer
	idle    time.Duration
	stopped bool // the stream ended: touch does nothing
}

// idleTimer is what an idle watch uses of its *time.Timer; a test stands in
// for it to stop the watch in the middle of a touch.
type idleTimer interface {
	Stop() bool
	Reset(time.Duration) bool
}

// touch pushes the idle timeout back, unless it already fired or the
// stream ended.
func (w *idleWatch) touch() {
	w.mu.Lock()
	if !w.stopped && w.timer.Stop() {
		w.timer.Reset(w.idle)
	}
	w.mu.Unlock()
}

// stop stops the watch for good, when its stream ends.
func (w *idleWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
}

// idleBody is a body whose reads touch an idle watch.
type idleBody struct {
	io.ReadCloser
	w *idleWatch
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.touch()
	}
	return n, err
}

// streamFailure returns the error that ended a stream under ctx: its idle
// timeout reads as the end of a budget (504 before the answer's header),
// whatever the call's error made of the cancellation (kept as text only, so
// that no Problemer in it answers 499), anything else as it is.
func streamFailure(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errStreamIdle) {
		return fmt.Errorf("%w (%w): %s", errStreamIdle, context.DeadlineExceeded, err)
	}
	return err
}

// serveStream forwards r, which arrived at start, on a stream route: under
// the stream's context instead of a budget of the route's policy.
func (h *routeHandler) serveStream(w http.ResponseWriter, r *http.Request, start time.Time) {
	var caller netip.Addr
	if h.opts.Caller != nil {
		caller = h.opts.Caller(r)
	}
	ctx, watch, stop := h.streamContext(r.Context(), start, caller)
	defer stop()
	if h.opts.MarkStream != nil {
		ctx = h.opts.MarkStream(ctx)
	}
	if h.route.Idempotent && h.opts.MarkIdempotent != nil {
		ctx = h.opts.MarkIdempotent(ctx)
	}
	if !h.rewriteHolds(w, r) {
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &idleBody{ReadCloser: r.Body, w: watch}
	}
	h.serveHTTP(ctx, w, r)
}
