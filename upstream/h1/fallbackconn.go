package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The default Fallback keeps an answer's Connection fields too.
//
// Its *http.Transport reads answers with http.ReadResponse, which deletes a
// Connection field holding "close", and with it the names of the fields not
// to forward (connfield.go): a plain-HTTP backend's "Connection: close,
// X-Hop" to a large upload (sent with Connection: close, so its answer most
// often closes too) passed X-Hop on to the client. The transport's reader
// is out of reach, so the bytes it reads are kept below it: every conn the
// default Fallback dials for plain HTTP is a tapConn, which a round trip
// arms when net/http hands it the conn (httptrace's GotConn) and which
// keeps what the transport reads until RoundTrip returns. When the answer lost its Connection fields, they are
// read again from those bytes; when that cannot be done, the round trip
// fails, as h1's own does (errConnectionLost), rather than pass an answer
// whose fields not to forward are unknown.
//
// The bytes kept must be the answer's own, never those of an earlier answer
// or bytes the server sent unasked that the transport's buffer held when
// the conn was handed over. Two checks make sure of it. The kept bytes
// start with a Read made while that buffer was empty: bufio.Reader reads
// into the free part of its buffer, so a Read shorter than the buffer
// (fallbackReadBuffer) means it held bytes, read before the tap was armed,
// that the answer's head may start with. And the head read again from them
// must be the one the transport returned: the same status line and the same
// fields, but those ReadResponse changes; a head it began to read from
// bytes buffered before (whole lines, read before a Read into an empty
// buffer) lacks some of its fields in the kept bytes, and fails that.
//
// The tap also holds the default Fallback to the header bound of h1's own
// round trips: Transport.MaxResponseHeaderBytes for the bytes of the
// answer's heads, its informational ones included, and max1xxAnswers
// informational answers handed to the caller's Got1xxResponse. The
// http.Transport bounds each head it reads, but starts its count again
// after each informational answer that it gives a hook, and gives the hook
// every one: a backend could send 103s without end, each passed on to the
// client. So a tapConn, while armed, reads no more than the bound (with
// the rest of a read that ends a head: fallbackReadBuffer) and then fails
// the round trip with errHeaderTooLarge; and the round trip's trace
// replaces the caller's rather than being composed with it (withTap), to
// drop the informational answers past max1xxAnswers before the caller's
// hook sees them.
//
// This is the rare path (large uploads, Expect: 100-continue, trailers,
// upgrades); h1's own round trips do none of it. https requests sent with
// WithTLS are tapped alike, above their TLS connection (tls.go); other
// https requests go to the Fallback untapped: their answers are net/http's,
// Connection deletion included, since a tap under TLS would take the
// handshake from net/http.

// fallbackReadBuffer is the size of the default Fallback's read buffer,
// set on it so that a tapConn can tell from the length of a Read whether
// the buffer held bytes.
const fallbackReadBuffer = 4 << 10

// maxKeptHead bounds what a tapConn keeps for one answer, and what it reads
// for it while armed, when its transport sets no bound: a head the
// transport takes (maxHeaderBytes, the default bound) and the rest of the
// read that ended it. A tapConn of a Transport with a bound of its own
// keeps that bound plus fallbackReadBuffer (see Transport.dialTapped).
const maxKeptHead = maxHeaderBytes + fallbackReadBuffer

// tapConn is a plain-HTTP connection of the default Fallback, the conn
// sharedDial made. While armed, it keeps what the transport reads from it.
type tapConn struct {
	net.Conn

	maxKept int64 // the bound on an answer's bytes read while armed; zero: maxKeptHead

	mu      sync.Mutex // Reads are the transport's readLoop's, arm and take a round trip's
	trips   int        // the round trips it was armed for: 1 on a new conn's first
	armed   bool
	keeping bool  // kept starts with a Read made into an empty buffer
	lost    bool  // the answer's head may not be wholly in kept
	read    int64 // bytes read since armed
	refused error // why Reads fail, the answer being over its bound; nil: they do not
	kept    []byte
	shut    bool          // Close was called
	reset   chan struct{} // made by a Write the server's reset failed while armed; Close closes it
}

// Write writes to the connection. A write the server's reset of the
// connection failed during a round trip (a server that answered an upload
// early, a 413 or a 401, and closed without reading it) returns only once
// the transport closes the conn: its answer is in the conn's receive queue,
// and net/http's transport, which fails the round trip on its writer's
// error when that comes first, reads it meanwhile and returns it. The
// transport closes the conn after that answer (its request never finished
// writing), or when its read finds none. Without it, about half such
// answers became a 502 blamed on the node.
func (c *tapConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil || !peerReset(err) {
		return n, err
	}
	c.mu.Lock()
	if !c.armed || c.shut {
		c.mu.Unlock()
		return n, err
	}
	if c.reset == nil {
		c.reset = make(chan struct{})
	}
	reset := c.reset
	c.mu.Unlock()
	<-reset
	return n, err
}

// Close closes the connection, and ends the wait of a Write that its
// failure holds.
func (c *tapConn) Close() error {
	c.mu.Lock()
	if !c.shut && c.reset != nil {
		close(c.reset)
	}
	c.shut = true
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *tapConn) Read(p []byte) (int, error) {
	empty := len(p) >= fallbackReadBuffer // see the comment at the top of the file
	c.mu.Lock()
	if c.refused == nil && c.armed && c.read >= c.bound() {
		c.refused = headerTooLarge(c.bound() - fallbackReadBuffer)
		c.lost, c.kept = true, nil // the head goes on past what is kept
	}
	refused, left := c.refused, c.bound()-c.read
	if c.armed && int64(len(p)) > left {
		p = p[:left] // as the transport's own bound does, and h1's
	}
	c.mu.Unlock()
	if refused != nil {
		return 0, refused
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.armed {
		c.keep(p[:n], empty)
	}
	c.mu.Unlock()
	return n, err
}

// bound returns the most an answer may have read while the conn is armed.
func (c *tapConn) bound() int64 {
	if c.maxKept > 0 {
		return c.maxKept
	}
	return maxKeptHead
}

// keep keeps b, read into a buffer that was empty or not.
func (c *tapConn) keep(b []byte, empty bool) {
	c.read += int64(len(b))
	switch {
	case c.lost:
	case !c.keeping && !empty:
		c.lost, c.kept = true, nil
	default:
		c.keeping = true
		c.kept = append(c.kept, b...)
	}
}

// arm starts keeping the bytes of an answer to come.
func (c *tapConn) arm() {
	c.mu.Lock()
	c.armed, c.keeping, c.lost, c.kept = true, false, false, nil
	c.read, c.refused = 0, nil
	c.trips++
	c.mu.Unlock()
}

// refusal returns why the answer is refused: the conn refused to read
// more of it, or the transport read as much of it as its own bound lets it
// (its error says so in words of its own). Nil when neither.
func (c *tapConn) refusal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil && c.read >= c.bound()-fallbackReadBuffer {
		return headerTooLarge(c.bound() - fallbackReadBuffer)
	}
	return c.refused
}

// take stops keeping and returns what was kept, and whether it holds the
// answer's bytes from its first.
func (c *tapConn) take() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept, ok := c.kept, c.keeping && !c.lost
	c.armed, c.kept = false, nil
	return kept, ok
}

// CloseWrite half-closes the connection when it can: a 101's connection,
// which net/http returns as the answer's body, is this conn (see
// slotConn.CloseWrite).
func (c *tapConn) CloseWrite() error { return CloseWrite(c.Conn) }

// dialTapped dials addr for the default Fallback's plain-HTTP requests.
func (t *Transport) dialTapped(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, stop := untilRoundTripEnds(ctx)
	defer stop()
	nc, err := t.sharedDial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: nc, maxKept: t.maxHeaderBytes() + fallbackReadBuffer}, nil
}

// tappedTrip sends req by via, the default Fallback or the transport of a
// WithTLS request (tls.go), with the tap of the conn it gets armed, and
// puts back in the answer the Connection fields ReadResponse deleted. The
// answer's Request is req.
func (t *Transport) tappedTrip(via http.RoundTripper, req *http.Request) (*http.Response, error) {
	resp, _, err := t.tappedTripConn(via, req)
	return resp, err
}

// tappedTripConn is tappedTrip that also returns, when it fails, the
// round trips of the connection it was handed, this one included: 0 when
// it was handed none (it wrote nothing), 1 when the connection was new.
func (t *Transport) tappedTripConn(via http.RoundTripper, req *http.Request) (_ *http.Response, trips int, _ error) {
	var got atomic.Pointer[tapConn] // the conn of the try that answers, when net/http tries again
	resp, err := via.RoundTrip(req.WithContext(withTap(req.Context(), &got)))
	var kept []byte
	ok := false
	var refused error
	c := got.Swap(nil)
	if c != nil {
		refused = c.refusal()
		kept, ok = c.take()
	}
	if err != nil {
		if c != nil {
			c.mu.Lock()
			trips = c.trips
			c.mu.Unlock()
		}
		if refused != nil {
			return nil, trips, fmt.Errorf("h1: read response header: %w (%w)", refused, err)
		}
		return nil, trips, err
	}
	resp.Request = req
	if connectionDeleted(resp) && (!ok || restoreConnection(resp, kept) != nil) {
		resp.Body.Close()
		return nil, 0, errConnectionLost
	}
	if _, w := resp.Body.(io.Writer); w && resp.StatusCode == http.StatusSwitchingProtocols && c != nil {
		nc := c.Conn
		if tc, ok := nc.(*tls.Conn); ok {
			nc = tc.NetConn() // an https node's (tls.go)
		}
		if sc, ok := nc.(*slotConn); ok {
			sc.leave() // the caller's tunnel now, out of the host's pool (slotConn.leave)
		}
	}
	return resp, 0, nil
}

// withTap returns ctx with the client trace of a tapped round trip: its
// GotConn arms the tapConn net/http hands the round trip and keeps it in
// got, and its Got1xxResponse drops the informational answers past
// max1xxAnswers; each then calls the caller's own hook, if any. A caller's
// trace is not composed with it, as httptrace.WithClientTrace would do,
// which calls every hook of both whatever the first returns: it is
// replaced, for net/http's look-up, by a copy with those two hooks
// wrapped (tracedCtx). Its other hooks, and the dial's (package net's,
// under a key of its own), are the caller's still. It holds ctx itself
// too, whose end ends the round trip's dial (untilRoundTripEnds).
func withTap(ctx context.Context, got *atomic.Pointer[tapConn]) context.Context {
	caller := httptrace.ContextClientTrace(ctx)
	var trace httptrace.ClientTrace
	if caller != nil {
		trace = *caller
	}
	trace.GotConn = func(info httptrace.GotConnInfo) {
		c, _ := info.Conn.(*tapConn)
		if c != nil {
			c.arm()
		}
		if old := got.Swap(c); old != nil && old != c {
			old.take()
		}
		if caller != nil && caller.GotConn != nil {
			caller.GotConn(info)
		}
	}
	var n1xx atomic.Int32 // net/http's readLoop calls the hook
	trace.Got1xxResponse = func(code int, header textproto.MIMEHeader) error {
		if n1xx.Add(1) > max1xxAnswers || caller == nil || caller.Got1xxResponse == nil {
			return nil
		}
		return caller.Got1xxResponse(code, header)
	}
	ctx = context.WithValue(ctx, roundTripKey{}, ctx) // its dial's end (shared.go)
	if caller == nil {
		return httptrace.WithClientTrace(ctx, &trace)
	}
	return &tracedCtx{Context: ctx, caller: caller, trace: &trace}
}

// tracedCtx is a context whose client trace, the value
// httptrace.ContextClientTrace finds, is trace in place of caller.
type tracedCtx struct {
	context.Context
	caller, trace *httptrace.ClientTrace
}

func (c *tracedCtx) Value(key any) any {
	v := c.Context.Value(key)
	if t, ok := v.(*httptrace.ClientTrace); ok && t == c.caller {
		return c.trace
	}
	return v
}

// restoreConnection puts back in resp the Connection fields ReadResponse
// deleted, read again from head, the bytes the transport read from the
// first of its answer on: informational heads, skipped as the transport
// skips them, then resp's. The head read there must be resp's own (see the
// comment at the top of the file).
func restoreConnection(resp *http.Response, head []byte) error {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return errConnectionLost
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return errConnectionLost
		}
		proto, status, _ := strings.Cut(line, " ") // as ReadResponse
		status = strings.TrimLeft(status, " ")
		code, _, _ := strings.Cut(status, " ")
		if n, err := strconv.Atoi(code); err == nil && len(code) == 3 && n >= 100 && n <= 199 && n != 101 {
			continue
		}
		if proto != resp.Proto || status != resp.Status || !sameFields(resp.Header, h) {
			return errConnectionLost
		}
		if vv := h["Connection"]; vv != nil {
			resp.Header["Connection"] = vv
		}
		return nil
	}
}

// sameFields reports whether got, a header ReadResponse returned, holds
// the fields of sent, as read from the wire, but those ReadResponse deletes
// or adds: Connection, Transfer-Encoding, Content-Length, Trailer and
// Cache-Control (added for Pragma: no-cache).
func sameFields(got http.Header, sent textproto.MIMEHeader) bool {
	n := 0
	for k, vv := range sent {
		if !changedByRead(k) {
			if !slices.Equal(got[k], vv) {
				return false
			}
			n++
		}
	}
	for k := range got {
		if !changedByRead(k) {
			n--
		}
	}
	return n == 0
}

func changedByRead(key string) bool {
	switch key {
	case "Connection", "Transfer-Encoding", "Content-Length", "Trailer", "Cache-Control":
		return true
	}
	return false
}
