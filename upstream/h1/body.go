package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

var errReadOnClosed = errors.New("h1: read on closed response body")

// body is a response body read straight from its connection's reader. It
// releases the connection once, at EOF, on error, or on Close. It is
// allocated per response (not kept in the conn) so that a late Read or
// Close of an old response can never reach the conn's next request.
//
// Close may be called while a Read is blocked in another goroutine: it then
// closes the connection to unblock the Read, which releases it.
type body struct {
	c     *conn // nil once released
	ctx   context.Context
	try   time.Time     // the round trip's own deadline; zero: none
	rc    io.ReadCloser // net/http's framing reader over c.br
	reuse bool          // the response allows reusing the conn
	left  int64         // bytes left of a Content-Length, or -1

	// idle, once LiftTry set it, bounds each Read that must wait for the
	// node: the conn's cut is moved to the Read's start plus idle for the
	// Read, and back to the context's deadline after it.
	idle time.Duration

	mu      sync.Mutex
	reading bool  // a Read is in rc.Read, outside mu
	closed  bool  // Close was called
	err     error // the error Read returns once done (io.EOF at the end)
}

// Read reads the body. At EOF, on error or after Close, the connection is
// released; errors caused by the request's context ending satisfy
// errors.Is(err, ctx.Err()).
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errReadOnClosed
	}
	if b.c == nil {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.reading = true
	var due time.Time // the idle bound of this Read, when it may wait
	if b.idle > 0 && (b.left < 0 || b.left > int64(b.c.br.Buffered())) {
		due = time.Now().Add(b.idle)
		b.c.cut.move(earliest(due, b.c.ctxCut))
	}
	b.mu.Unlock()

	n, err := b.rc.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = false
	if !due.IsZero() && b.c != nil {
		b.c.cut.move(b.c.ctxCut)
	}
	if b.left > 0 {
		b.left -= int64(n)
	}
	switch {
	case b.closed: // Close closed the conn meanwhile
		b.releaseLocked(false)
		if err == nil {
			err = errReadOnClosed
		}
	case err == io.EOF:
		b.err = io.EOF
		b.releaseLocked(b.reuse)
	case err != nil:
		// The cut timer fired at this Read's idle bound, not at the
		// context's deadline it also keeps: the node's stall.
		stalled := !due.IsZero() && b.c.cut.hasFired() && !time.Now().Before(due) &&
			(b.c.ctxCut.IsZero() || due.Before(b.c.ctxCut))
		fired, hadDeadline := b.c.stopCancel(), b.c.hasDeadline
		b.releaseLocked(false)
		if stalled {
			err = fmt.Errorf("h1: read body: %w for %v (%w)", ErrBodyStalled, b.idle, err)
		} else {
			err = ctxErr(b.ctx, b.try, "", err, fired, hadDeadline)
		}
		b.err = err
	}
	return n, err
}

// ErrBodyStalled is the error, wrapped, of a Read of an answer's body cut
// because the node sent nothing for the idle bound LiftTry set: the node's
// stall, not its reader's pace.
var ErrBodyStalled = errors.New("the node sent no byte of the body")

// earliest returns the earlier of a and b, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if b.IsZero() || !a.IsZero() && a.Before(b) {
		return a
	}
	return b
}

// LiftTry lifts the round trip's own deadline (RoundTripBy's,
// RoundTripAt's) from the body of a response of this package's, and
// reports whether it was one; the request's context still bounds it. That
// deadline is an attempt's, for want of an answer; once the answer is
// taken, its body's pace is its reader's: a caller passing a large answer
// on to a slow client had it cut at the deadline, a quarter of a second
// for the upstream client's derived per-try timeout. What the deadline
// still bounds, when idle is positive, is the node's own stall: each Read
// that waits for the node fails with ErrBodyStalled after idle with no
// byte, however slowly the reader reads between Reads.
func LiftTry(rc io.ReadCloser, idle time.Duration) bool {
	b, ok := rc.(*body)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil || b.left >= 0 && b.left <= int64(b.c.br.Buffered()) {
		// Read whole already, or all in the buffer: no read waits for
		// the node, and the round trip ends with the next one.
		return true
	}
	b.try, b.idle = time.Time{}, idle
	b.c.liftTry()
	return true
}

// Detach takes the connection of rc, a body this transport returned, out
// of its host's count (MaxConnsPerHost) while the body is read, and
// reports whether rc was one: the answer is a stream's, which may last an
// hour, and its connection will not serve another request before then.
// Held in the count, 256 server-sent event streams from one client took
// every connection of their node, and every other request to it waited
// for one until its budget ended, as the tunnels a 101 hands over did
// before they left the pool (slotConn.leave). Once the body ends, the
// connection is kept for reuse if a slot is free then, else closed.
func Detach(rc io.ReadCloser) bool {
	b, ok := rc.(*body)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		b.c.p.detach(b.c)
	}
	return true
}

// Close releases the connection. Before EOF, the connection is kept only
// when the rest of a Content-Length body is already buffered (it is then
// discarded without blocking); otherwise the connection is closed, as
// reading an unknown rest could block or be long.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	switch {
	case b.c == nil: // released already
	case b.reading:
		b.c.nc.Close() // the Read returns and releases
	default:
		reuse := false
		if b.reuse && b.left >= 0 && b.left <= int64(b.c.br.Buffered()) {
			_, err := b.c.br.Discard(int(b.left))
			reuse = err == nil
		}
		b.releaseLocked(reuse)
	}
	return nil
}

func (b *body) releaseLocked(reuse bool) {
	if b.c == nil {
		return
	}
	c := b.c
	b.c = nil
	if b.err == nil {
		b.err = errReadOnClosed
	}
	c.release(reuse)
}
