package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Reading a request body is part of the request: it spends the request's
// budget, and a client that stops sending is cut off. Every read of a body the
// router forwards runs under a read deadline on the client's connection, the
// earlier of the budget's deadline and now plus the body idle timeout, and
// every read error is the client's (a *BodyError).
//
// A body is read before a node is picked, up to MaxReplayBody bytes: a small
// body is held whole, so that a stalled upload never holds a connection to a
// backend and a request that provably never reached a node can be sent to
// another; a larger one is streamed after its first MaxReplayBody bytes. The
// bodies held share a budget (heldbodies.go): one that finds no room is
// streamed after what it holds, as a larger one is.

// DefaultBodyIdleTimeout is the body idle timeout when Options.BodyIdleTimeout
// is zero.
const DefaultBodyIdleTimeout = 10 * time.Second

// MaxReplayBody is the most of a request body that the gateway holds before
// picking a node: a body that ends within it, whatever its framing (a
// chunked one of exactly that many bytes too: one more read finds its
// end), is held in memory and sent with a Content-Length, and a request
// carrying it can be sent again on another node; a larger one is streamed
// after them, and its request is retried only when it provably never left.
// So is a body that finds no room in the budget of held bodies (BodyBudget)
// as it grows past its first 4 KiB.
const MaxReplayBody = 64 << 10

// A held body starts this small and grows as bytes arrive, so that a client
// declaring a large body and sending nothing costs little memory.
const firstBodyChunk = 4 << 10

type bodyState uint8

const (
	bodyOpen     bodyState = iota
	bodyEOF                // read to its end
	bodyFailed             // a read failed: err says why
	bodyClosed             // closed before its end by whoever forwarded it
	bodyDetached           // the handler returned: the connection is no longer ours
)

// aLongTimeAgo is a read deadline in the past: every read fails at once.
var aLongTimeAgo = time.Unix(1, 0)

// clientBody reads a request body under the deadlines above. Read and Close
// may be called from the transport's goroutine while the handler runs;
// detach, called when the handler returns, stops every use of the
// connection's deadlines, which then belong to the server again.
type clientBody struct {
	src      io.Reader
	ctl      *http.ResponseController
	deadline time.Time // the budget's; zero for none
	idle     time.Duration
	limit    int64 // most bytes accepted (413 beyond); 0 for no limit
	bodies   *BodyBudget
	trailer  http.Header // the request's, filled in at the body's end
	reserved int64       // taken from bodies for the held start; the handler's goroutine's

	mu          sync.Mutex
	state       bodyState
	canDeadline bool // the writer can set read deadlines
	armed       bool // a read deadline of ours is set
	inRead      bool // a read of the client's connection is under way
	budgetBound bool // the deadline set is the budget's
	read        int64
	err         *BodyError
	probe       [1]byte
	pending     bool // probe holds a byte read past the held start, which Read returns first
}

// newClientBody wraps r's body; ctx carries the budget's deadline. limit, when
// positive, is the most bytes accepted.
func (h *routeHandler) newClientBody(ctx context.Context, w http.ResponseWriter, r *http.Request, limit int64) *clientBody {
	b := &clientBody{src: r.Body, ctl: http.NewResponseController(w), idle: h.opts.BodyIdleTimeout, limit: limit,
		bodies: h.opts.HeldBodies, trailer: r.Trailer, canDeadline: true}
	b.deadline, _ = ctx.Deadline()
	return b
}

// refuseDeclared fails the body, and returns its 413, when its declared
// length (-1 for none) is over the body's limit.
func (b *clientBody) refuseDeclared(declared int64) error {
	if b.limit <= 0 || declared <= b.limit {
		return nil
	}
	be := &BodyError{Status: http.StatusRequestEntityTooLarge, Reason: fmt.Sprintf("the limit is %d bytes", b.limit)}
	b.fail(be)
	return be
}

// maxBody returns the most bytes of a request body the route accepts, 0
// for no bound: the route's own, else the router's on an RPC route.
func (h *routeHandler) maxBody() int64 {
	if h.route.MaxBodyBytes > 0 || h.route.Endpoint == "" {
		return h.route.MaxBodyBytes
	}
	return h.opts.MaxBodyBytes
}

// Read implements io.Reader.
func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.pending && len(p) > 0 && (b.state == bodyOpen || b.state == bodyEOF) {
		b.pending = false
		p[0] = b.probe[0]
		b.mu.Unlock()
		return 1, nil
	}
	switch b.state {
	case bodyEOF:
		b.mu.Unlock()
		return 0, io.EOF
	case bodyFailed:
		err := b.err
		b.mu.Unlock()
		return 0, err
	case bodyClosed, bodyDetached:
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	b.armLocked()
	b.inRead = true
	b.mu.Unlock()

	n, err := b.src.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.inRead = false
	b.read += int64(n)
	if b.limit > 0 && b.read > b.limit {
		n -= int(b.read - b.limit)
		b.read = b.limit
		err = &BodyError{Status: http.StatusRequestEntityTooLarge, Reason: fmt.Sprintf("the limit is %d bytes", b.limit)}
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF && trailerSection(b.trailer) > MaxTrailerSection:
		be := &BodyError{Status: http.StatusBadRequest, Reason: fmt.Sprintf("its trailers take more than %d bytes", MaxTrailerSection)}
		b.failLocked(be)
		return n, be
	case err == io.EOF:
		if b.state == bodyOpen || b.state == bodyClosed {
			b.state = bodyEOF
			b.setDeadlineLocked(time.Time{}) // done: the server's again (and its watch's)
		}
		return n, io.EOF
	}
	be := classifyReadError(err, b.budgetBound, b.idle.String())
	b.failLocked(be)
	return n, be
}

// armLocked sets the read deadline for the next read.
func (b *clientBody) armLocked() {
	d := time.Now().Add(b.idle)
	b.budgetBound = !b.deadline.IsZero() && b.deadline.Before(d)
	if b.budgetBound {
		d = b.deadline
	}
	b.setDeadlineLocked(d)
}

func (b *clientBody) setDeadlineLocked(d time.Time) {
	if !b.canDeadline || (d.IsZero() && !b.armed) {
		return
	}
	if err := b.ctl.SetReadDeadline(d); err != nil {
		b.canDeadline = false // a writer without deadlines: reads go unbounded
		return
	}
	b.armed = !d.IsZero()
}

// failLocked records the body's failure. The read deadline is left in the
// past: the server cannot read the rest of the body to reuse the connection,
// and closes it after the answer instead of waiting on a client that stalled.
// A body over its limit is the exception: its client is most likely still
// sending, and a connection closed with bytes unread is reset, which can
// lose the 413 on its way. Its deadline is tooLargeLinger away, so that the
// server reads on a moment as it does past its own body limits (net/http:
// up to 256 KiB, then a half-close and a wait), and the client reads its
// answer; the lean server lingers whatever the deadline.
func (b *clientBody) failLocked(be *BodyError) {
	if b.state != bodyOpen && b.state != bodyClosed {
		return
	}
	b.state, b.err = bodyFailed, be
	deadline := aLongTimeAgo
	if be.Status == http.StatusRequestEntityTooLarge {
		deadline = time.Now().Add(tooLargeLinger)
	}
	b.setDeadlineLocked(deadline)
}

// tooLargeLinger is how long the server may read on after a body went over
// its limit: net/http's and the lean server's linger before a close.
const tooLargeLinger = 500 * time.Millisecond

// fail records a failure found without reading, such as a declared length
// over the limit.
func (b *clientBody) fail(be *BodyError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failLocked(be)
}

// failure returns the error that ended the body, or nil. ctx is the
// request's, err the upstream client's. A read of the body still waiting
// for the client is the client's failure too when the request's budget
// has ended (a read that is about to fail on the same deadline), or when
// the upstream client found the attempt timed out on the body, not the
// node (a per-try timeout: err is a client fault).
func (b *clientBody) failure(ctx context.Context, err error) *BodyError {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || !b.inRead {
		return b.err
	}
	var cf interface{ ClientFault() bool }
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &BodyError{Status: http.StatusRequestTimeout, Err: ctx.Err(),
			Reason: "the request's budget ran out while its body was still arriving"}
	case errors.As(err, &cf) && cf.ClientFault():
		return &BodyError{Status: http.StatusRequestTimeout, Err: err,
			Reason: "the attempt's timeout came while its body was still arriving"}
	}
	return nil
}

// Close implements io.Closer. It leaves the client's body open: the server
// decides what to do with its rest once the handler returns.
func (b *clientBody) Close() error {
	b.mu.Lock()
	if b.state == bodyOpen {
		b.state = bodyClosed
	}
	b.mu.Unlock()
	return nil
}

// detach ends the body's use of the connection, when the handler returns,
// and gives back the room its held start took. A body not read to its end
// leaves a deadline of one idle timeout from now, so that the server's
// reading of its rest (to reuse the connection) is bounded too.
func (b *clientBody) detach() {
	b.release()
	b.mu.Lock()
	defer b.mu.Unlock()
	prev := b.state
	b.state = bodyDetached
	if prev == bodyOpen || prev == bodyClosed {
		b.setDeadlineLocked(time.Now().Add(b.idle))
	}
}

// hold reads the start of the body: all of it, complete, when it ends within
// max bytes, else its first max bytes. declared is the Content-Length, or -1.
// The buffer grows as bytes arrive, beyond firstBodyChunk only with room from
// the budget of held bodies (heldbodies.go): without it, hold returns what it
// read, not complete, as it does at max.
func (b *clientBody) hold(declared int64, max int) (buf []byte, complete bool, err error) {
	size := firstBodyChunk
	if declared >= 0 && declared < int64(size) {
		size = int(declared)
	}
	size = min(size, max)
	buf = make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if declared >= 0 && int64(len(buf)) >= declared {
				// All that was declared is here: read its end (the
				// server's framing gives no byte more).
				n, err := b.Read(b.probe[:])
				switch {
				case err == io.EOF && n == 0:
					return buf, true, nil
				case err == nil || err == io.EOF:
					be := &BodyError{Status: http.StatusBadRequest, Reason: "longer than its Content-Length"}
					b.fail(be)
					return nil, false, be
				}
				return nil, false, err
			}
			if len(buf) >= max {
				if declared >= 0 {
					return buf, false, nil
				}
				// A body of unknown length (chunked) that has max bytes
				// may end there: a body that ends within max is held,
				// whatever its framing, as one that declares max bytes
				// is. One more byte says it goes on; Read returns it
				// first.
				n, err := b.Read(b.probe[:])
				switch {
				case err == io.EOF && n == 0:
					return buf, true, nil
				case n == 1:
					b.mu.Lock()
					b.pending = true
					b.mu.Unlock()
					return buf, false, nil
				case err != nil:
					return nil, false, err
				}
				return buf, false, nil
			}
			next := min(2*cap(buf), max)
			if declared >= 0 {
				next = int(min(int64(next), declared))
			}
			if !b.reserve(next) {
				return buf, false, nil
			}
			buf = append(make([]byte, 0, next), buf...)
		}
		n, err := b.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF && declared >= 0 && int64(len(buf)) < declared:
			// The servers report this as io.ErrUnexpectedEOF; any other
			// reader that ends early is held to the same rule.
			be := &BodyError{Status: http.StatusBadRequest, Reason: "shorter than its Content-Length"}
			b.fail(be)
			return nil, false, be
		case err == io.EOF:
			return buf, true, nil
		case err != nil:
			return nil, false, err
		}
	}
}

// prefixedBody streams a body whose start was already read.
type prefixedBody struct {
	head []byte
	rest *clientBody
}

func (p *prefixedBody) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.rest.Read(b)
}

func (p *prefixedBody) Close() error { return p.rest.Close() }
