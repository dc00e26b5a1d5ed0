package server

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// pendCap is how much of an answer's body the server holds before it must
// choose its framing: an answer that ends within it gets a Content-Length,
// a longer one without a declared length is sent chunked.
const pendCap = 4096

// response is the http.ResponseWriter of one request. Besides the three
// methods, it implements http.Flusher, http.Hijacker, and the methods
// http.ResponseController looks for (FlushError, SetReadDeadline,
// SetWriteDeadline, EnableFullDuplex), and two that package router looks
// for: SetWriteIdleTimeout and AdoptHeader.
type response struct {
	c      *conn
	req    *http.Request
	body   *body // nil when the request has none
	header http.Header

	wants10KeepAlive bool
	wantsClose       bool
	head             bool

	status      int
	wroteHeader bool // a final status was given
	committed   bool // the status line and fields are in the writer
	handlerDone bool
	hijacked    bool
	fullDuplex  bool

	setReadDeadline, setWriteDeadline bool // by the handler

	declared   int64 // the Content-Length the handler set, or -1
	written    int64 // body bytes the handler wrote
	chunked    bool
	closeAfter bool

	// What WriteHeader saw in the header, whose other fields it serialized
	// into c.hdr.
	hasType, hasDate, hasEncoding bool
	te                            string
	connection                    []string
	trailers                      []string // declared trailer names
	prefixTrailers                bool

	expectsContinue bool // the client asked for "100 Continue"
	contMu          sync.Mutex
	canContinue     atomic.Bool // "100 Continue" may still be sent
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// Header returns the answer's header map, made on the first call: an
// answer whose header a handler hands over whole (AdoptHeader) never makes
// one.
func (w *response) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// AdoptHeader makes h the answer's header map, as if the handler had set
// each of its fields, when nothing has asked for the header yet (Header was
// never called) and no status was given; it reports whether it did. From
// then on h is the map Header returns, under the same rules: a field
// changed after WriteHeader is not sent, unless as a trailer, and no one
// else may hold h while the handler runs (package router's Doer gives the
// router an answer of its own).
//
// A proxy answers with a header it was handed (package router, with its
// backend's): adopted, it spares the answer a map of its own and a store of
// every field into it, on every request. Only a header nobody has asked for
// is replaced, so that no one can hold the map it had.
func (w *response) AdoptHeader(h http.Header) bool {
	if w.header != nil || h == nil || w.wroteHeader || w.hijacked {
		return false
	}
	w.header = h
	return true
}

func (w *response) WriteHeader(code int) {
	if w.hijacked {
		w.c.srv.logf("server: WriteHeader on a hijacked connection")
		return
	}
	if w.wroteHeader {
		w.c.srv.logf("server: superfluous WriteHeader(%d) call; the status was %d", code, w.status)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 101 || code > 199 {
		w.disableContinue()
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	w.snapshot()
}

// informational sends a 1xx answer now. HTTP/1.0 clients get none: they
// would not know what to do with it.
func (w *response) informational(code int) {
	if !w.req.ProtoAtLeast(1, 1) {
		return
	}
	w.contMu.Lock()
	defer w.contMu.Unlock()
	if code == http.StatusContinue {
		w.canContinue.Store(false)
	}
	c := w.c
	b := appendStatusLine(c.hdr[:0], true, code)
	b = appendFields(b, w.header)
	b = append(b, "\r\n"...)
	c.hdr = b
	c.bw.Write(b)
	c.bw.Flush()
	c.releaseHdr()
}

// snapshot serializes the header fields as they are at WriteHeader, as
// net/http sends them: later changes to the map count only for trailers.
// One pass over the map notes the fields that shape the answer and appends
// the ones sent: a lookup per field of note would hash each name again.
func (w *response) snapshot() {
	b := w.c.hdr[:0]
	mixed := false
	for k, vv := range w.header {
		switch k {
		case "Content-Length":
			if len(vv) > 0 {
				v, err := strconv.ParseInt(vv[0], 10, 64)
				if err == nil && v >= 0 {
					w.declared = v
				} else {
					w.c.srv.logf("server: invalid Content-Length of %q", vv[0])
				}
			}
		case "Transfer-Encoding":
			if len(vv) > 0 {
				w.te = vv[0]
			}
		case "Connection":
			w.connection = vv
		case "Content-Type":
			w.hasType = true
			if w.status == http.StatusNotModified {
				continue // as net/http: a 304 sends none
			}
		case "Date":
			w.hasDate = true
		case "Content-Encoding":
			w.hasEncoding = len(vv) > 0 && vv[0] != ""
		case "Trailer":
			for _, v := range vv {
				for name := range strings.SplitSeq(v, ",") {
					if name = textproto.TrimString(name); name == "" {
						continue
					}
					name = http.CanonicalHeaderKey(name)
					if httpguts.ValidTrailerHeader(name) {
						w.trailers = append(w.trailers, name)
					}
				}
			}
		}
		send, prefixed, canonical := sendable(k)
		if prefixed {
			w.prefixTrailers = true
		}
		if send {
			mixed = mixed || !canonical
			for _, v := range vv {
				b = appendField(b, k, v)
			}
		}
	}
	if mixed { // a name not canonical: sorted instead (appendSorted)
		b = appendSorted(w.c.hdr[:0], w.header, w.status == http.StatusNotModified)
	}
	w.c.hdr = b
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		w.c.srv.logf("server: Write on a hijacked connection")
		return 0, http.ErrHijacked
	}
	if w.c.werr != nil {
		return 0, w.c.werr
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		// Counted all the same, as net/http counts it: every later write
		// fails too (a shorter one would put bytes from further on in the
		// handler's body where these belong), and the connection closes
		// after the answer (finish), whose framing the handler lost track
		// of.
		w.written += int64(len(p))
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	n := len(p)
	if !w.committed {
		if w.declared < 0 && len(w.c.pend)+len(p) <= pendCap {
			w.c.pend = append(w.c.pend, p...)
			return n, nil
		}
		if w.declared >= 0 && w.sniffs() && len(w.c.pend)+len(p) < sniffLen {
			// The framing is known, but not the type: held until sniffing
			// has its 512 bytes, as net/http's buffer holds them, so
			// that small writes are guessed from together.
			w.c.pend = append(w.c.pend, p...)
			return n, nil
		}
		// Held bytes and this write's first ones, up to what sniffing
		// reads, go out together, so that a missing Content-Type is guessed
		// from the body's start even when it came in small writes.
		if k := min(len(p), sniffLen-len(w.c.pend)); len(w.c.pend) > 0 && k > 0 {
			w.c.pend = append(w.c.pend, p[:k]...)
			p = p[k:]
		}
		w.commit(false, p)
	}
	if w.head || len(p) == 0 {
		return n, nil
	}
	if _, err := w.writeBody(p); err != nil {
		return n - len(p), err
	}
	return n, nil
}

// sniffLen is how much of a body http.DetectContentType reads.
const sniffLen = 512

// sniffs reports whether the answer's Content-Type will be guessed from its
// body's start (commit).
func (w *response) sniffs() bool {
	return !w.hasType && !w.hasEncoding && w.te == "" && bodyAllowedForStatus(w.status)
}

func (w *response) writeBody(p []byte) (int, error) {
	bw := w.c.bw
	if w.chunked {
		var size [16]byte
		bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, err := bw.Write(p)
		bw.WriteString("\r\n")
		return n, err
	}
	return bw.Write(p)
}

// commit writes the status line and the header fields, choosing the
// framing, then the held body bytes. final says the handler is done, so that
// a body held whole gets its length; first is the body's first bytes when
// none are held, for guessing a missing Content-Type.
func (w *response) commit(final bool, first []byte) {
	c, req := w.c, w.req
	w.committed = true
	w.disableContinue()
	code := w.status
	keepAlives := !c.srv.closing.Load()
	bodyAllowed := bodyAllowedForStatus(code)
	hasTE := w.te != ""
	trailers := len(w.trailers) > 0 || w.prefixTrailers
	sniff := w.c.pend
	if len(sniff) == 0 {
		sniff = first
	}

	hasCL := w.declared >= 0
	if final && !trailers && !hasTE && bodyAllowed && !hasCL && (!w.head || w.written > 0) {
		w.declared, hasCL = w.written, true
	}

	var connection string
	if w.wants10KeepAlive && (w.head || hasCL || !bodyAllowed) {
		if w.connection == nil {
			connection = "keep-alive"
		}
	} else if !req.ProtoAtLeast(1, 1) || w.wantsClose {
		w.closeAfter = true
	}
	if len(w.connection) > 0 && w.connection[0] == "close" || !keepAlives {
		w.closeAfter = true
	}
	if w.body != nil && w.body.expectContinue && !w.body.done() {
		w.closeAfter = true // the body was never asked for
	}
	tooBig := false
	if w.body != nil && req.ContentLength != 0 && !w.closeAfter && !w.fullDuplex {
		var ok bool
		if ok, tooBig = w.body.discard(); !ok {
			w.closeAfter = true
			c.linger = true
		}
	}

	if hasCL && hasTE && w.te != "identity" {
		c.srv.logf("server: WriteHeader with both Transfer-Encoding %q and Content-Length %d; the length is dropped", w.te, w.declared)
		hasCL, w.declared = false, -1
	}
	switch {
	case w.head || !bodyAllowed:
	case hasCL:
	case req.ProtoAtLeast(1, 1):
		if hasTE && w.te == "identity" {
			w.closeAfter = true
		} else {
			w.chunked = true
		}
	default:
		w.closeAfter = true
	}

	dropConnection := w.closeAfter &&
		(!keepAlives || !httpguts.HeaderValuesContainsToken(w.connection, "close")) &&
		!(code == http.StatusSwitchingProtocols && w.header.Get("Upgrade") != "" &&
			httpguts.HeaderValuesContainsToken(w.connection, "Upgrade"))
	if dropConnection {
		connection = ""
		if req.ProtoAtLeast(1, 1) || tooBig {
			// To an HTTP/1.0 client too when the body it sent is too big
			// to read past, as net/http says it (FuzzAnswer).
			connection = "close"
		}
	}

	b := c.bw.AvailableBuffer()
	b = appendStatusLine(b, req.ProtoAtLeast(1, 1), code)
	b = append(b, c.hdr...)
	if !dropConnection {
		for _, v := range w.connection {
			b = appendField(b, "Connection", v)
		}
	}
	if connection != "" {
		b = appendField(b, "Connection", connection)
	}
	if bodyAllowed && !w.chunked && hasCL {
		b = append(b, "Content-Length: "...)
		b = appendInt(b, w.declared)
		b = append(b, "\r\n"...)
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if w.sniffs() && len(sniff) > 0 {
		b = appendField(b, "Content-Type", http.DetectContentType(sniff))
	}
	if !w.hasDate {
		b = appendDate(b)
	}
	b = append(b, "\r\n"...)
	c.bw.Write(b)
	c.releaseHdr()
	if len(c.pend) > 0 {
		if !w.head && bodyAllowed {
			w.writeBody(c.pend)
		}
		c.pend = c.pend[:0]
	}
}

// releaseHdr lets go of c.hdr once what it held was written, if a large
// header or trailer made it grow: kept, it would hold that memory for as
// long as the connection lives, idle ones included, where every answer after
// needs a few hundred bytes (a backend's 10 MiB header, or one echoing the
// client's 64 KiB, pinned per kept-alive connection). As c.raw is let go.
func (c *conn) releaseHdr() {
	if cap(c.hdr) > 2*pendCap {
		c.hdr = nil
	}
}

// finish completes the answer once the handler returned.
func (w *response) finish() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true, nil)
	}
	if w.chunked {
		w.writeTrailers()
	}
	if !w.head && bodyAllowedForStatus(w.status) && w.declared >= 0 && w.written != w.declared {
		w.closeAfter = true // the client counts bytes that never came
	}
	switch {
	case w.body == nil:
	case !w.closeAfter:
		if ok, _ := w.body.discard(); !ok {
			w.closeAfter = true
			w.c.linger = true
		}
	case !w.body.done():
		// Closing anyway (an answer delimited by the close, say), with
		// the client perhaps still sending the body: closing on unread
		// bytes would reset the connection, and the reset can drop the
		// answer's end before the client read it (found by FuzzAnswer).
		w.c.linger = true
	}
	w.c.bw.Flush()
}

// writeTrailers ends a chunked body, with the declared trailers and those
// named with http.TrailerPrefix.
func (w *response) writeTrailers() {
	b := append(w.c.hdr[:0], "0\r\n"...)
	for _, k := range w.trailers {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range w.header[k] {
			b = appendField(b, k, v)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(name) && httpguts.ValidHeaderFieldName(name) {
			for _, v := range vv {
				b = appendField(b, name, v)
			}
		}
	}
	b = append(b, "\r\n"...)
	w.c.hdr = b
	w.c.bw.Write(b)
	w.c.releaseHdr()
}

// Flush sends what was written so far.
func (w *response) Flush() { w.FlushError() }

// FlushError sends what was written so far and reports a failure to.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false, nil)
	}
	return w.c.bw.Flush()
}

// Hijack hands the connection to the handler, with the bytes already read
// from it in the reader and what was written so far flushed.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.handlerDone {
		return nil, nil, errors.New("server: Hijack called after the handler returned")
	}
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.wroteHeader && !w.committed {
		w.commit(false, nil)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	c.watch.end()
	w.hijacked, c.hijacked = true, true
	c.srv.remove(c) // the handler owns it now: Shutdown and Close leave it alone
	// The handler reads and writes the socket itself: the deadlines it
	// has, stale ones included, go now.
	c.rd.setNow(time.Time{})
	c.wd.setNow(time.Time{})
	if c.hasByte {
		// The byte the watch read goes into the reader, where the handler
		// looks for what was read before it took the connection (as
		// net/http puts it there).
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return nil, nil, fmt.Errorf("server: moving the byte read ahead into the reader: %w", err)
		}
	}
	c.bw.Reset(c.orig)
	return c.orig, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline sets the connection's read deadline, for
// http.ResponseController, until the request ends. It bounds the reads
// under way at once, and the next ones, the watch's included: a deadline
// that fires while the watch reads is the client leaving only if it has not
// been cleared or moved later since. With no read under way the socket gets
// it only before the next read (deadline.go), so an error setting it shows
// there.
func (w *response) SetReadDeadline(t time.Time) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	w.setReadDeadline = true
	return w.c.rd.Set(t)
}

// SetWriteDeadline sets the connection's write deadline, for
// http.ResponseController, until the request ends. It bounds the writes to
// the connection under way at once, and the next ones; with none under way
// the socket gets it only before the next write, so that a deadline set
// and cleared around writes the buffer takes whole costs nothing, and an
// error setting it shows in that write.
func (w *response) SetWriteDeadline(t time.Time) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	w.setWriteDeadline = true
	return w.c.wd.Set(t)
}

// SetWriteIdleTimeout makes each write to the connection, until the
// request ends or the write deadline is set, run under a deadline of d
// from the write's start; zero or less clears it, and the write deadline
// with it. It is what a handler that sets a deadline of d before each write
// of its own gets (the gateway's router copying an answer), without
// reading the clock for each: the server reads it only before the writes
// that reach the connection, and not at all for an answer the buffer takes
// whole before the handler clears the deadline.
func (w *response) SetWriteIdleTimeout(d time.Duration) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	w.setWriteDeadline = true
	return w.c.wd.setIdle(d)
}

// clearDeadlines clears the deadlines the handler set, once its request is
// over, as net/http's server does.
func (w *response) clearDeadlines() {
	if w.setReadDeadline {
		w.c.rd.Set(time.Time{})
	}
	if w.setWriteDeadline {
		w.c.wd.Set(time.Time{})
	}
}

// EnableFullDuplex lets the handler read the request body after it started
// answering, for http.ResponseController: the server then leaves the body
// alone when it sends the header.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// writeContinue sends "100 Continue" on the body's first read, unless the
// answer has begun.
func (w *response) writeContinue() {
	w.contMu.Lock()
	defer w.contMu.Unlock()
	if !w.canContinue.Load() {
		return
	}
	w.canContinue.Store(false)
	w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	w.c.bw.Flush()
}

// disableContinue stops the body's first read from sending "100 Continue".
// It takes the lock whenever the client asked for one, so that a "100
// Continue" already written by another goroutine happens before what the
// caller writes next.
func (w *response) disableContinue() {
	if w.expectsContinue {
		w.contMu.Lock()
		w.canContinue.Store(false)
		w.contMu.Unlock()
	}
}

func bodyAllowedForStatus(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}
