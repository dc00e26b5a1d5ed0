package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream/h1"
)

// closeBody discards a failed attempt's answer, reading a little of it so
// that the connection can be reused.
func closeBody(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// attemptRequest returns the request of one attempt: r aimed at node, with a
// fresh body for a retry; over TLS with sec when not nil (WithServiceTLS).
func attemptRequest(ctx context.Context, r *http.Request, node *registry.Node, attempt int, sec *tls.Config) (*http.Request, error) {
	scheme := "http"
	if sec != nil {
		scheme, ctx = "https", h1.WithTLS(ctx, sec)
	}
	out := r.WithContext(ctx)
	u := *r.URL
	u.Scheme = scheme
	u.Host = node.Address
	out.URL = &u
	if out.Host == "" {
		out.Host = node.Address
	}
	if r.Body != nil && r.Body != http.NoBody {
		body := r.Body
		if attempt > 0 && r.GetBody != nil {
			var err error
			if body, err = r.GetBody(); err != nil {
				return nil, fmt.Errorf("upstream: replaying the request body: %w", err)
			}
		}
		// A body that cannot be replayed is sent again only when no attempt
		// read a byte of it (decide): the attempt that failed first holds
		// back its transport's Close.
		out.Body = &watchedBody{ReadCloser: body, holdClose: r.GetBody == nil}
	}
	return out, nil
}

// watchedBody is a request body that remembers a read error the client
// caused (one with ClientFault() true), however the transport then wraps
// or hides it: net/http's request writer, for one, wraps body read errors in
// a type with no Unwrap. It also knows whether a Read is under way: an
// attempt that timed out while its transport waited on the client's body
// was cut by the client's slowness, not the node's (clientsFault); and
// when it ended, from which the attempt waits for its answer (wait). The
// transport may read it from another goroutine.
type watchedBody struct {
	io.ReadCloser
	fault   atomic.Pointer[error]
	reading atomic.Bool
	wait    uploadWait // the attempt's place in its node's queue: limit_upload.go

	// A body without GetBody (a proxied client's upload, streamed) can be
	// sent again only as it is, when no attempt read any of it: an attempt
	// that provably sent nothing (its node refused the connection) leaves
	// it so. The transport closes a request's body when its round trip
	// fails, so such a body's Close is held back while nothing was read,
	// until the attempt's end says whether a retry takes the body over
	// (take) or not (release).
	holdClose bool
	mu        sync.Mutex
	touched   bool // a Read was made
	held      bool // a Close was held back
	released  bool // release was called: Closes go through
	gone      bool // take gave the body to the next attempt
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.holdClose {
		b.mu.Lock()
		gone := b.gone
		b.touched = true
		b.mu.Unlock()
		if gone {
			return 0, http.ErrBodyReadAfterClose
		}
	}
	b.reading.Store(true)
	n, err := b.ReadCloser.Read(p)
	b.reading.Store(false)
	if err == io.EOF {
		b.wait.bodyEnded()
	} else if err != nil && isClientFault(err) {
		b.fault.CompareAndSwap(nil, &err)
	}
	return n, err
}

// Close closes the body, unless its Close is held back (see holdClose).
func (b *watchedBody) Close() error {
	if b.holdClose {
		b.mu.Lock()
		switch {
		case b.gone:
			b.mu.Unlock()
			return nil
		case !b.touched && !b.released:
			b.held = true
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
	}
	return b.ReadCloser.Close()
}

// take gives the body to the next attempt, when it is one whose Close is
// held back and no Read of it was made, and reports whether it did: this
// attempt's Close, held or to come, is then dropped, and its Reads fail.
// Otherwise it does what release does.
func (b *watchedBody) take() bool {
	if b == nil || !b.holdClose {
		return false
	}
	b.mu.Lock()
	if !b.touched {
		b.gone = true
		b.mu.Unlock()
		return true
	}
	b.mu.Unlock()
	b.release()
	return false
}

// release ends the holding back of the body's Close: a Close held is made
// now, and later ones go through.
func (b *watchedBody) release() {
	if b == nil || !b.holdClose {
		return
	}
	b.mu.Lock()
	held := b.held && !b.gone && !b.released
	b.released = true
	b.mu.Unlock()
	if held {
		b.ReadCloser.Close()
	}
}

// clientsFault returns the client's share of err, the error of an attempt
// that sent out under ctx, or nil: the body's own failure, however the
// transport wrapped it; or, when the attempt's own timeout fired (ctx, the
// call's, still running) while the transport was still waiting on the
// body, a stalledBodyError. With a per-try timeout, a client trickling its
// upload would otherwise fail each attempt as the node's fault, and eject
// the service's nodes one by one.
func clientsFault(ctx context.Context, out *http.Request, err error) error {
	wb, ok := out.Body.(*watchedBody)
	if !ok {
		return nil
	}
	if f := wb.fault.Load(); f != nil {
		return *f
	}
	if wb.reading.Load() && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return &stalledBodyError{err}
	}
	return nil
}

// stalledBodyError is an attempt's timeout that fired while the transport
// waited on the client's request body: the client's fault, answered 408 as
// the router answers a body that stalls.
type stalledBodyError struct{ err error }

func (e *stalledBodyError) Error() string {
	return "the request body was still arriving at the attempt's timeout: " + e.err.Error()
}
func (e *stalledBodyError) Unwrap() error     { return e.err }
func (e *stalledBodyError) ClientFault() bool { return true }

// Problem implements rpc.Problemer.
func (e *stalledBodyError) Problem() (status int, typ, title string) {
	return http.StatusRequestTimeout, problem.TypeBadRequest, "Request body too slow"
}

// attemptBody is the body of an attempt's answer. Its first Close ends the
// attempt: the request stops counting as in flight on its node, and the
// call's own deadline, if Do set one, is released.
type attemptBody struct {
	io.ReadCloser
	done    func()
	cancel  context.CancelFunc // nil when the caller's context had a deadline
	acancel context.CancelFunc // ends the attempt's own context
	closed  atomic.Bool
	verdict pendingVerdict // the answer's judgment, when its body's end gives it
}

// pendingVerdict is the judgment of an answer (Success or Rejected) put off
// until its body ends: an answer is the node's success only once its body
// came whole. A node that answers 200 and cuts the body fails fast, so it
// would otherwise look the least loaded and, judged well, draw ever more
// traffic that its clients all lose. The same holds of the service: a
// service whose every node cuts its bodies would be all successes to its
// breaker, which would never open, so the call's breaker ticket, when it
// counts at the end (ticket.countsAtEnd), is done here too. c is nil when
// there is none to give.
type pendingVerdict struct {
	c       *Client
	ctx     context.Context // the call's
	node    *registry.Node
	tk      ticket  // the call's breaker ticket, or the zero ticket when the call counted it
	outcome Outcome // the answer's, as its head was classified
	given   atomic.Bool
	nodes   int32    // the service's nodes as the call last saw them, for tk (an int32 fills the padding)
	by      onBehalf // whom the call serves
}

// give judges the answer once: as its head was classified when the body
// ended well (err nil or io.EOF, or the caller closed it before its end),
// else as classifyBody finds the failure.
func (v *pendingVerdict) give(err error) {
	if v.c == nil || !v.given.CompareAndSwap(false, true) {
		return
	}
	o, at := v.outcome, time.Time{}
	if err != nil && err != io.EOF {
		now := v.c.now()
		at = v.c.shared(now)
		o = classifyBody(v.ctx, at, err, v.c.leftAt(v.ctx, now), v.c.slack())
	} else {
		err = nil
	}
	v.c.judge(v.node, o, err, v.by)
	v.count(o, at)
}

// count ends the call's breaker ticket as its body ended, in o, at (zero:
// the breaker reads its clock; a body may end long after its head, too
// long for the head's time to fall in the breaker's window). Only the
// node's fault changes what the head said: a body whose caller left, or
// whose budget ran out, is the answer its head was, as one the caller
// closed early is.
func (v *pendingVerdict) count(o Outcome, at time.Time) {
	if !o.Fault() {
		v.tk.done(v.outcome, int(v.nodes), at)
		return
	}
	v.tk.nodeFault(v.node, at)
	v.tk.done(o, int(v.nodes), at)
}

func (b *attemptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.verdict.give(err)
	}
	return n, err
}

func (b *attemptBody) Close() error {
	// Judged before the body is closed: a read that Close cuts short is
	// not the node's failure.
	b.verdict.give(nil)
	err := b.ReadCloser.Close()
	if b.closed.CompareAndSwap(false, true) {
		b.done()
		b.acancel()
		if b.cancel != nil {
			b.cancel()
		}
	}
	return err
}

// callAlloc is what a call that sends an attempt allocates, in one
// allocation instead of three: the value of its first attempt's
// Sluice-Budget field, its text, and the wrapper of the body of the answer
// it returns (only one answer is returned per call).
type callAlloc struct {
	budget [1]string
	text   [budgetText]byte
	body   attemptBody
}

// budgetText is room for the text of a Sluice-Budget field: its longest
// value, "ms=" and nine digits, a hop count and a retry count of three
// digits each (budget.MaxMillis, MaxHops, MaxRetries) and a caller of
// IPv6's longest text, is 82 bytes.
const budgetText = 96

// budgetField returns the value slice of the Sluice-Budget field h of an
// attempt: ca's, with its text in ca, for the first; fresh ones for the
// others (an earlier attempt's request may still be read by its
// transport).
func (ca *callAlloc) budgetField(attempt int, h budget.Header) []string {
	if attempt > 0 {
		var buf [budgetText]byte
		return []string{string(h.Append(buf[:0]))}
	}
	// The text is written once, here, and never again: a string may
	// share its bytes.
	b := h.Append(ca.text[:0])
	ca.budget[0] = unsafe.String(unsafe.SliceData(b), len(b))
	return ca.budget[:]
}

// maxKept bounds the body of an answer kept while its request is retried.
const maxKept = 64 << 10

// keep returns a copy of resp, a failed answer about to be retried, with its
// body read into memory, or nil when the body is larger than maxKept or
// cannot be read. Should the retries end with no answer of their own, the
// caller gets this one rather than a made-up 502. resp's body is left for
// closeBody.
func keep(resp *http.Response) *http.Response {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxKept+1))
	if err != nil || len(b) > maxKept {
		return nil
	}
	k := *resp
	k.Header = resp.Header.Clone()
	if k.Header == nil {
		k.Header = make(http.Header)
	}
	k.Body = io.NopCloser(bytes.NewReader(b))
	k.ContentLength, k.TransferEncoding = int64(len(b)), nil
	return &k
}

// giveBack returns a kept answer as the call's, marked so that the layers
// above do not retry what this hop already did. Its body's Close releases
// the call's own deadline, when Do set one.
func giveBack(kept *http.Response, cancel context.CancelFunc) *http.Response {
	kept.Header.Set(RetryHeader, RetryNo)
	kept.Body = &attemptBody{ReadCloser: kept.Body, done: func() {}, cancel: cancel, acancel: func() {}}
	return kept
}
