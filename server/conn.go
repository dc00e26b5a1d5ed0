package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/internal/rawio"
	"github.com/sluicehq/sluice/requestid"
)

// A connection is active while it reads or serves a request, idle while it
// waits for the next one, and closed once Shutdown closed it while idle.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// headerSlop is what the buffered reader may read past a header's end before
// the header limit is lifted, as in net/http.
const headerSlop = 4096

// readerSize is the size of a connection's reader: a request head that
// fits in it is parsed there (readFast); a larger one takes room from the
// Server's budget of large heads (headbudget.go).
const readerSize = 4096

// maxPostHandlerRead is how much of a request body the server reads and
// discards, when the handler left it unread, to keep the connection; with
// more left, it closes the connection instead (net/http's figure).
const maxPostHandlerRead = 256 << 10

var errHeaderTooLarge = errors.New("server: request header too large")

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv    *Server
	rwc    net.Conn // raw, through rawio
	orig   net.Conn // what Accept returned, for Hijack
	remote string
	ctx    context.Context // carries http.LocalAddrContextKey
	state  atomic.Int32
	base   time.Time // the accept, and the origin of since

	// The socket's deadlines, set when a read or write needs them
	// (deadline.go).
	rd, wd deadline

	br *bufio.Reader // reads through conn.Read
	bw *bufio.Writer

	// Read's bookkeeping, touched by the connection's goroutine (and by the
	// watch's goroutine only while the connection's does not read).
	limit   int64 // bytes the request header may still take; <0: no limit
	hasByte bool  // byteBuf holds a byte the watch read
	byteBuf [1]byte

	// The raw bytes of the request header being read (framing.go).
	raw       []byte
	recording bool
	headHeld  int64 // the room the head being read holds in the large heads' budget
	faulty10  bool  // the current request is of HTTP/1.0 and has Transfer-Encoding

	kept bool // a request was read: the next is a kept-alive connection's

	hdr  []byte // the final answer's header fields, serialized at WriteHeader
	body *body  // the current request's body, nil if none: retired at the end
	pend []byte // an answer's first body bytes, held until its framing is known

	lastMethod string // of the previous request
	hijacked   bool
	linger     bool  // the client may still be sending: close with lingerClose
	werr       error // the first error writing to the client

	watch watch
}

// newConn returns the connection of rwc, whose place in s.Conns lc holds
// (nil: none).
func newConn(s *Server, rwc net.Conn, lc *limitConn) *conn {
	c := &conn{srv: s, rwc: rawio.Wrap(rwc), orig: rwc, limit: -1, base: time.Now()}
	if lc != nil {
		// Hijack hands over orig: its Close releases the place then.
		c.orig = lc
	}
	c.remote = rwc.RemoteAddr().String()
	c.ctx = context.WithValue(context.Background(), http.LocalAddrContextKey, rwc.LocalAddr())
	c.rd.rwc = c.rwc
	c.wd.rwc, c.wd.write, c.wd.now = c.rwc, true, c.now
	c.wd.fallBackTo(s.WriteIdleTimeout)
	c.watch.c, c.watch.after, c.watch.sw = c, s.watchAfter(), &s.sweep
	c.watch.done.L = &c.watch.mu
	return c
}

// since is the time since the accept, by the monotonic clock alone: cheaper
// than time.Now.
func (c *conn) since() time.Duration { return time.Since(c.base) }

// now is time.Now, read from the monotonic clock alone.
func (c *conn) now() time.Time { return c.base.Add(c.since()) }

// readSocket reads the socket under the read deadline wanted.
func (c *conn) readSocket(p []byte) (int, error) {
	c.rd.begin()
	defer c.rd.end()
	return c.rwc.Read(p)
}

// writeSocket writes to the socket under the write deadline wanted.
func (c *conn) writeSocket(p []byte) (int, error) {
	c.wd.begin()
	defer c.wd.end()
	return c.rwc.Write(p)
}

// Read feeds the buffered reader: the byte the watch read comes first, and
// while a header is read, no more than its limit.
func (c *conn) Read(p []byte) (int, error) {
	if c.limit >= 0 {
		if c.limit == 0 {
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > c.limit {
			p = p[:c.limit]
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.recording && c.headHeld == 0 && len(c.raw) >= readerSize && !c.growHead() {
		c.limit = 0 // answered 431, as a head over the limit
		return 0, errHeaderTooLarge
	}
	var n int
	var err error
	if c.hasByte {
		p[0], c.hasByte, n = c.byteBuf[0], false, 1
	} else {
		n, err = c.readSocket(p)
	}
	if c.limit >= 0 {
		c.limit -= int64(n)
	}
	if c.recording {
		c.raw = append(c.raw, p[:n]...)
	}
	return n, err
}

// Write is where the buffered writer's bytes go: the first error sticks.
func (c *conn) Write(p []byte) (int, error) {
	if c.werr != nil {
		return 0, c.werr
	}
	n, err := c.writeSocket(p)
	if err != nil {
		c.werr = err
	}
	return n, err
}

func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.rwc.Close()
	}
}

// release gives the connection's place in the server's ConnLimit back,
// once it is closed (not hijacked: the handler's Close of orig does then).
func (c *conn) release() {
	if lc, ok := c.orig.(*limitConn); ok {
		lc.release()
	}
}

func (c *conn) serve() {
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c)
	if d := c.srv.ReadHeaderTimeout; d > 0 {
		// As net/http: the first request's header is due within
		// ReadHeaderTimeout of the accept, even if no byte of it comes.
		c.rd.Set(c.base.Add(d))
	}
	defer func() {
		if v := recover(); v != nil {
			c.watch.abandon()
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("server: panic serving %s: %v\n%s", c.remote, v, buf)
			}
		}
		if !c.hijacked {
			if c.linger && c.werr == nil {
				c.lingerClose()
			}
			c.rwc.Close()
			c.release()
			// After the close, which ends a read of the body under way: a
			// goroutine the handler left may read the body still, and must
			// not get at the reader once the pool has it.
			c.retireBody()
			c.br.Reset(nil)
			readerPool.Put(c.br)
			c.bw.Reset(nil)
			writerPool.Put(c.bw)
		}
		c.srv.remove(c)
	}()
	for {
		req, blk, ok := c.next()
		if !ok || !c.serveOne(req, blk) {
			return
		}
	}
}

// next waits for the next request and reads its header. It answers a bad
// request itself, and reports false when the connection is done. A request
// read by readFast comes in its block (newBlock) already; one read by
// http.ReadRequest gets its block in serveOne, and blk is nil.
//
// Its deadlines and its header limit are net/http's: the first request's
// header must come within ReadHeaderTimeout of the accept (the deadline is
// set in serve), and the limit counts every byte read from the connection
// until then; a later request is waited for with IdleTimeout (up to a grain
// later: see idleGrain) until 4 bytes of it are there (bytes not counted
// against the limit), then its header must come within ReadHeaderTimeout.
// That deadline is wanted only when the header is not whole in the reader
// by then: else no read is left for it to bound.
func (c *conn) next() (_ *http.Request, blk *reqBlock, _ bool) {
	s := c.srv
	limit := s.maxHeaderBytes() + headerSlop
	if !c.kept {
		c.limit = limit
		if c.br.Buffered() == 0 && !c.waitIdle(1) {
			return nil, nil, false
		}
	} else {
		if c.br.Buffered() < 4 {
			if d := s.idleTimeout(); d > 0 {
				c.rd.setWithin(c.now().Add(d), idleGrain(d))
			} else {
				c.rd.Set(time.Time{})
			}
			if !c.waitIdle(4) {
				return nil, nil, false
			}
		}
		c.limit = limit
	}
	if c.lastMethod == http.MethodPost {
		// RFC 9112, section 2.2: a client may send an extra line break
		// after a POST body; net/http skips up to four bytes of them.
		peek, _ := c.br.Peek(4)
		n := 0
		for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
			n++
		}
		c.br.Discard(n)
	}
	c.recordHeader()
	req, blk := c.readFast()
	var err error
	if req == nil {
		if c.kept && !headBuffered(c.br) {
			// The header comes in pieces: it is due ReadHeaderTimeout
			// after its first bytes, which just came.
			var t time.Time
			if d := s.ReadHeaderTimeout; d > 0 {
				t = time.Now().Add(d)
			}
			c.rd.Set(t)
		}
		req, err = http.ReadRequest(c.br)
	}
	fr := c.stopRecording(req)
	tooLarge := c.limit == 0 // as net/http: the error came with the limit reached
	c.limit = -1
	if err != nil {
		c.refuse(err, tooLarge)
		return nil, nil, false
	}
	// No deadline bounds the body or the watch: the one left on the socket
	// is stale, and replaced before they read (deadline.go).
	c.rd.Set(time.Time{})
	c.kept = true
	c.lastMethod = req.Method
	if status, detail := check(req, blk != nil); status != 0 {
		if blk != nil {
			blk.ctx.Cancel()
		}
		c.answer(status, detail)
		return nil, nil, false
	}
	switch fr {
	case framingConflict:
		if blk != nil {
			blk.ctx.Cancel()
		}
		c.answer(http.StatusBadRequest, "a request must not have both Content-Length and Transfer-Encoding (RFC 9112, section 6.3)")
		return nil, nil, false
	case framingFaulty10:
		c.faulty10 = true
	}
	return req, blk, true
}

// headBuffered reports whether br holds a whole request header, up to the
// empty line that ends it: then reading it reads nothing from the
// connection. A header whose lines end in a bare LF counts as not whole.
func headBuffered(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	return bytes.Contains(buf, []byte("\r\n\r\n"))
}

// A reqBlock is what a request allocates besides the request itself, its
// header map and its header's text: its context, its URL, its response and
// the backing array of its header's values, in one allocation instead of
// four. They live as long as the request does.
type reqBlock struct {
	ctx  leanctx.Ctx
	url  url.URL
	resp response
	vals [smallHeader]string
	// fast says readFast read the request, an HTTP/1.1 one whose Close
	// holds its Connection fields' "close", and expect whether it has an
	// Expect field: serveOne then looks neither field up for nothing.
	fast, expect bool
}

// newBlock makes the block of a request. Its context carries c.ctx's
// values, and is canceled when the handler returns or the client leaves.
// It is a lean one (package leanctx), where context.WithCancel also makes
// a children map and, once the round trip's transport watches it, a Done
// channel; and it is passed as itself, not as a cancel function, whose
// method value would be one allocation more.
func (c *conn) newBlock() *reqBlock {
	blk := new(reqBlock)
	blk.ctx.Init(c.ctx, time.Time{})
	return blk
}

// waitIdle waits, as an idle connection that Shutdown may close, until the
// reader holds n bytes, and reports whether they came.
func (c *conn) waitIdle(n int) bool {
	c.state.Store(stateIdle)
	if c.srv.closing.Load() {
		c.closeIfIdle()
	}
	_, err := c.br.Peek(n)
	// Closed by Shutdown, or by the client, or idle too long.
	return c.state.CompareAndSwap(stateIdle, stateActive) && err == nil
}

// refuse answers a request whose header could not be read, unless the
// client left or was too slow, as net/http's server does: tooLarge says the
// header limit was reached.
func (c *conn) refuse(err error, tooLarge bool) {
	switch {
	case tooLarge:
		c.answer(http.StatusRequestHeaderFieldsTooLarge, "the request line and header fields exceed the server's limit")
	case isUnsupportedTE(err):
		// Without the coding's name, which the client chose (net/http
		// does not echo it either).
		c.answer(http.StatusNotImplemented, "unsupported transfer encoding")
	case isCommonNetReadError(err):
		// The client closed, reset or timed out: nobody to answer.
	default:
		c.answer(http.StatusBadRequest, clip(err.Error()))
	}
}

// clip shortens an error's text for an answer's detail: http.ReadRequest
// quotes the malformed line, which may be as long as the header limit.
func clip(s string) string {
	const max = 160
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// isCommonNetReadError tells the errors of reading a connection the client
// closed, reset or let time out, as net/http's server does. It looks at err
// itself, not what it wraps: http.ReadRequest's *url.Error for a bad target
// is a net.Error too, and must be answered 400.
func isCommonNetReadError(err error) bool {
	if err == io.EOF {
		return true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return true
	}
	if oe, ok := err.(*net.OpError); ok && oe.Op == "read" {
		return true
	}
	return false
}

// check holds a request to what net/http's server asks beyond the framing
// http.ReadRequest already checked. namesRead is true for a request that
// readFast read, whose field names it took only as tokens: they are not
// checked again (one pass over the header a request).
func check(req *http.Request, namesRead bool) (status int, detail string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served here"
	}
	if req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect {
		return http.StatusBadRequest, "missing required Host header"
	}
	if !httpguts.ValidHostHeader(req.Host) {
		return http.StatusBadRequest, "malformed Host header"
	}
	if namesRead {
		return 0, ""
	}
	for k := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest, "invalid header name"
		}
	}
	return 0, ""
}

// answer sends an error of the server's own, as a problem body, and closes
// the connection the polite way: the client gets to read the answer even
// when it is still sending.
func (c *conn) answer(status int, detail string) {
	if c.srv.OnRefuse != nil {
		c.srv.OnRefuse(status)
	}
	b := appendProblemAnswer(nil, status, detail)
	c.wd.Set(time.Now().Add(time.Second))
	if _, err := c.writeSocket(b); err == nil {
		c.lingerClose()
	}
}

// appendProblemAnswer appends a whole answer of the server's own: status,
// a problem body with detail, and "Connection: close". A request the server
// refuses never reaches the handlers that name requests, so it gets a fresh
// id here, in X-Request-Id and in the body, like every other problem the
// gateway writes.
func appendProblemAnswer(b []byte, status int, detail string) []byte {
	id := requestid.New()
	body := problem.BodyFor(status, problem.TypeBadRequest, http.StatusText(status), detail, id)
	b = appendStatusLine(b, true, status)
	b = append(b, requestid.HeaderName+": "...)
	b = append(b, id...)
	b = append(b, "\r\nContent-Type: "+problem.ContentType+"\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
	b = appendInt(b, int64(len(body)))
	b = append(b, "\r\n"...)
	b = appendDate(b) // as on every other answer (RFC 9110, section 6.6.1)
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// lingerTime is how long a connection closed with the client perhaps still
// sending lingers before it closes (net/http's figure).
const lingerTime = 500 * time.Millisecond

// lingerClose half-closes the connection and, for up to lingerTime, reads
// and drops what the client still sends, until the client ends its side.
// Closing a socket with bytes unread resets the connection, and the reset
// drops the part of the answer the kernel has not sent yet: drained, the
// close is an orderly one, after which the kernel still delivers the answer
// to a client that reads it slowly. (net/http reads nothing and waits out
// the half second: a client still sending then is reset, and one that had
// not read the answer's end by then loses it.) A client still sending at
// the end of the half second is reset all the same.
func (c *conn) lingerClose() {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.rwc.(closeWriter); ok {
		cw.CloseWrite()
	}
	c.rd.Set(time.Now().Add(lingerTime))
	c.rd.begin()
	defer c.rd.end()
	io.Copy(io.Discard, c.rwc)
}

// retireBody closes the last request's body for good as the connection
// ends, as net/http's server closes each request's body once its handler
// returned: a later read fails with http.ErrBodyReadAfterClose instead of
// reading the connection's reader, pooled by then (nil, or another
// connection's). A kept-alive connection's earlier bodies need it not: each
// was read to its end, where a read returns io.EOF without touching the
// reader.
func (c *conn) retireBody() {
	if c.body != nil {
		c.body.Close()
		c.body = nil
	}
}

// serveOne runs the handler for one request and finishes its answer. It
// reports whether the connection can serve another.
func (c *conn) serveOne(req *http.Request, blk *reqBlock) bool {
	parsed := req
	if blk == nil {
		// Read by http.ReadRequest: the handler's request is a copy with
		// its context.
		blk = c.newBlock()
		req = req.WithContext(&blk.ctx)
	}
	ctx := &blk.ctx
	req.RemoteAddr = c.remote
	w := &blk.resp
	w.c, w.req, w.header, w.declared, w.head = c, req, nil, -1, req.Method == http.MethodHead
	var conn, expect []string
	if !blk.fast {
		conn = req.Header["Connection"]
	}
	if !blk.fast || blk.expect {
		expect = req.Header["Expect"]
	}
	// An HTTP/1.0 request with Transfer-Encoding has faulty framing: its
	// answer closes the connection (RFC 9112, section 6.1).
	w.wants10KeepAlive = req.ProtoMajor == 1 && req.ProtoMinor == 0 && !c.faulty10 &&
		httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	// As net/http: the parsed request's Close counts, and the field too.
	w.wantsClose = req.Close || httpguts.HeaderValuesContainsToken(conn, "close")
	c.faulty10 = false
	// As net/http: the first Expect field counts, and an empty one is none.
	if ex := firstValue(expect); ex != "" {
		if !httpguts.HeaderValuesContainsToken([]string{ex}, "100-continue") {
			ctx.Cancel()
			c.answer(http.StatusExpectationFailed, `the only expectation served is "100-continue"`)
			return false
		}
		w.expectsContinue = req.ProtoAtLeast(1, 1) && req.ContentLength != 0
		w.canContinue.Store(w.expectsContinue)
	}
	if req.Body != http.NoBody && req.Body != nil {
		w.body = &body{rc: req.Body, w: w, parsed: parsed, req: req, size: req.ContentLength,
			expectContinue: w.canContinue.Load()}
		req.Body = w.body
	}
	c.body = w.body
	c.watch.begin(ctx, w.body == nil && c.br.Buffered() == 0)

	c.srv.Handler.ServeHTTP(w, req)

	gone := c.watch.end()
	ctx.Cancel()
	if w.hijacked {
		return false
	}
	w.finish()
	w.clearDeadlines()
	return !w.closeAfter && !gone && c.werr == nil
}

// firstValue is Header.Get's result for a field's values vs, indexed by a
// canonical name: Get would check the name for its canonical form on every
// request.
func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
