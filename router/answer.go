package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// An answer is copied to the client write by write, each under a write
// deadline of the write idle timeout, so that a client that stops reading
// cannot hold the answer, its upstream connection and the goroutine for
// ever. An answer that fails once its header is out, because the backend's
// body broke, the budget ended, or the client stopped reading, is aborted
// with http.ErrAbortHandler: the server cuts the connection, with no
// terminating chunk, so that the client can tell a short answer from a
// complete one, as with httputil.ReverseProxy.
//
// A stream (see isStream) is flushed write by write, so that each event
// reaches the client as the backend sends it; any other answer is left to
// the server's buffering. Trailers the backend sent after its body follow
// the body to the client (see trailers.go).

// DefaultWriteIdleTimeout is the write idle timeout when
// Options.WriteIdleTimeout is zero.
const DefaultWriteIdleTimeout = 30 * time.Second

// flushAbove is the size of an answer past which its end is flushed under the
// write deadline before the deadline is cleared: a smaller one fits the
// server's buffers and the socket's, and flushing it early would cost a write.
const flushAbove = 4 << 10

// copier is the pooled state of one answer's copy.
type copier struct {
	buf   []byte
	ctl   http.ResponseController
	w     http.ResponseWriter
	wi    writeIdler // the writer's, when it is one (arm)
	idle  time.Duration
	armed bool // a write deadline of ours is set
	can   bool // the writer can set write deadlines, and each Write sets one
	flush bool // flush after every write: the answer is a stream
	wfail bool // a write or flush to the client failed: a cut is the client's
}

// writeIdler is a writer that bounds each of its writes to the connection
// by an idle timeout itself, reading the clock only for those (package
// server's): the copier sets it once rather than a deadline per Write,
// which spares a reading of the clock per Write, and every reading for an
// answer the server's buffer takes whole.
type writeIdler interface {
	SetWriteIdleTimeout(time.Duration) error
}

// headerAdopter is a writer that can take the backend's header map as the
// answer's own when nothing has asked for the answer's header yet (package
// server's AdoptHeader): the answer then has no map of its own made and
// filled field by field. When the edge set a field first (a route's CORS
// policy, a 103's links), the writer has a map, and the fields are copied
// into it (copyHeader).
type headerAdopter interface {
	AdoptHeader(http.Header) bool
}

func asHeaderAdopter(w http.ResponseWriter) (headerAdopter, bool) {
	a, ok := w.(headerAdopter)
	return a, ok
}

// arm bounds the writes of the answer: by the writer's own idle timeout
// when it has one (then no Write sets a deadline), else by a deadline each
// Write sets.
func (c *copier) arm() {
	if wi, ok := writerAs(c.w, asWriteIdler); ok && wi.SetWriteIdleTimeout(c.idle) == nil {
		c.wi, c.armed, c.can = wi, true, false
	}
}

// disarm clears the write deadline arm or Write set. A writeIdler is told
// directly: through the ResponseController, the unwrapping of the writers
// around it took about 200 instructions a request.
func (c *copier) disarm() {
	if c.wi != nil {
		_ = c.wi.SetWriteIdleTimeout(0) // clears the write deadline with it
		return
	}
	_ = c.ctl.SetWriteDeadline(time.Time{})
}

var copiers = sync.Pool{New: func() any { return &copier{buf: make([]byte, 32<<10)} }}

// Write writes p under a fresh write deadline.
func (c *copier) Write(p []byte) (int, error) {
	if c.can {
		if err := c.ctl.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
			c.can = false
		} else {
			c.armed = true
		}
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.wfail = true
	} else if c.flush {
		err = c.flushNow()
	}
	return n, err
}

// flushNow sends what was written so far. A writer that cannot flush is
// not a failure: the answer is then buffered as the server does.
func (c *copier) flushNow() error {
	err := c.ctl.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		c.flush = false
		return nil
	}
	if err != nil {
		c.wfail = true
	}
	return err
}

// untyped marks h, the header of an answer whose backend sent no
// Content-Type, as one that must go without: a nil value, which the
// listener servers, as net/http's, take for "send no Content-Type and guess
// none". Without it, they would sniff one from the body's first bytes
// (http.DetectContentType) and send it as if the backend had: a node that
// sends a user's upload untyped, with "X-Content-Type-Options: nosniff" so
// that no browser renders it, would have it labelled text/html by the
// gateway, and rendered. A proxy adds no type of its own (nginx and Envoy
// pass an untyped answer on as it came); httputil.ReverseProxy, which lets
// the server sniff, is the exception.
func untyped(h http.Header) { h["Content-Type"] = nil }

// dropLength removes the Content-Length of an answer that has no content
// (204, 304). The HTTP/1 listener servers send none there, as net/http's
// does, but net/http's HTTP/2 server sends the handler's: a backend's 304
// with the Content-Length of the representation it did not send (RFC 9110,
// section 8.6, allows it) reached an HTTP/2 client as a stream that ended
// 7 bytes short, and Go's HTTP/2 client failed it ("unexpected EOF").
func dropLength(h http.Header) { delete(h, "Content-Length") }

// answer writes resp's status, header and body to w, and aborts the
// connection if the body cannot be copied whole. An answer the backend sent
// without a Content-Type goes without one (untyped).
func (h *routeHandler) answer(ctx context.Context, w http.ResponseWriter, resp *http.Response) {
	typed := true
	// The fields the backend's Connection field names stay behind, in the
	// header and the trailers both; read before the header drops it.
	var buf [4]string
	named := connectionNamed(buf[:0], resp.Header)
	if a, ok := writerAs(w, asHeaderAdopter); ok && a.AdoptHeader(resp.Header) {
		typed = dropHopByHop(resp.Header, named)
	} else {
		h := w.Header()
		copyHeader(h, resp.Header, named)
		_, typed = h["Content-Type"]
	}
	if !typed {
		untyped(w.Header())
	}
	noContent := resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	if noContent {
		dropLength(w.Header())
	}
	// No content, no trailers and no stream: a 204 that declares trailers
	// has none to send, a 304 to a HEAD framed as chunks streams nothing,
	// and the empty write that sends the header at once for either fails
	// under net/http's HTTP/2 server (ErrBodyNotAllowed), which aborted the
	// answer. (A HEAD's answer declares trailers as its GET's would.)
	declared := 0
	if !noContent {
		declared = announceTrailers(w.Header(), resp.Trailer, named)
	}
	w.WriteHeader(resp.StatusCode)
	c := copiers.Get().(*copier)
	c.ctl, c.w, c.idle, c.armed, c.can, c.wfail = *http.NewResponseController(w), w, h.opts.WriteIdleTimeout, false, true, false
	c.arm()
	c.flush = !noContent && isStream(resp)
	var n int64
	var err error
	if c.flush || declared > 0 {
		// The header goes out now: a stream's client learns of it before
		// the first event, and a body sent chunked can carry trailers.
		_, err = c.Write(nil)
		if err == nil && !c.flush {
			err = c.flushNow()
		}
	}
	if err == nil {
		n, err = io.CopyBuffer(c, resp.Body, c.buf) // c has no ReadFrom: the buffer is used
	}
	if err == nil && n > flushAbove && c.armed && !c.flush {
		err = c.flushNow()
	}
	if err == nil && !noContent {
		copyTrailers(w.Header(), resp.Trailer, declared, named)
	}
	if err == nil && c.armed {
		c.disarm()
	}
	clientCut := c.wfail
	c.ctl, c.w, c.wi = http.ResponseController{}, nil, nil
	copiers.Put(c)
	if err == nil {
		return
	}
	// The backend's body failing is the node's doing, worth a warning; the
	// rest is the client's (it left, or stopped reading past the write idle
	// timeout) or the budget's: at info, it neither raises an alarm nor
	// uses up the lines sampled of the node's failures (logFailure).
	level := slog.LevelWarn
	if ctx.Err() != nil || clientCut {
		level = slog.LevelInfo // the budget ended or the client left: see the access log
	}
	h.logFailure(ctx, level, "answer cut short; aborting the connection",
		slog.String("route", h.route.DisplayName()), slog.String("service", h.route.Service),
		slog.Int("status", resp.StatusCode), slog.Int64("bytes", n), slog.String("error", err.Error()))
	panic(http.ErrAbortHandler)
}
