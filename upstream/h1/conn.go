package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/internal/rawio"
)

// maxHeaderBytes is the bound on the bytes read for an answer's header,
// its informational answers included, of a Transport that sets none.
const maxHeaderBytes = DefaultMaxResponseHeaderBytes

// max1xxAnswers bounds the informational (1xx) answers before the final
// one that a round trip hands to its Got1xxResponse hook; later ones are
// read, their bytes counted in the header's bound, and dropped. The
// router passes a 103 it is handed on to the client, so a backend that
// sent them without end would have the gateway write a head to its client
// for every few bytes it sent, thousands within the byte bound alone.
// net/http's transport failed the round trip past 5 (its max1xxResponses)
// until Go 1.24, and now hands a hook every one, its byte bound started
// again after each; h1 drops them instead, as it does those of a request
// without the hook, and keeps one bound on the bytes of all.
const max1xxAnswers = 5

// stage is how far a failed round trip went.
type stage uint8

const (
	stageNothingWritten stage = iota // no byte of the request left
	stageWritten                     // some did; no byte of the response arrived
	stageResponse                    // some of the response arrived
	stageNotQuiet                    // a reused conn failed its check: nothing written
)

// conn is a pooled connection. It carries one request at a time, and is
// used only by the goroutine that holds it: the one in RoundTrip, then the
// one reading the response body.
type conn struct {
	p   *hostPool
	nc  net.Conn
	br  *bufio.Reader // reads from tap, which reads from the conn itself, to count
	tap headerTap     // keeps the header ReadResponse reads (connfield.go)
	bw  *bufio.Writer // writes to the conn itself, to count
	gen uint64        // the pool's generation when dialled

	nread, nwritten int64
	wfail           error // the first error of a Write; the conn is then never reused
	limit           int64 // bytes left to read; the header's bound during the header

	reused      bool          // the conn carried a request before this one
	detached    bool          // holds no slot of its pool: its answer is a stream's (Detach)
	idleSince   time.Time     // when put idle
	keepFor     time.Duration // the idle time its server stated in its last answer; zero: none (idle.go)
	hasDeadline bool          // the context's deadline is set on nc
	try         time.Time     // the round trip's own deadline; zero: none
	ctxCut      time.Time     // the lean context's deadline, which cut keeps once try is lifted (liftTry)
	cut         cutTimer      // closes the conn at the round trip's earliest deadline (cut.go)
	stop        func() bool
	lean        bool                 // leanReg holds the round trip's registration
	leanReg     leanctx.Registration // with a lean context, instead of stop
	onCancel    func()               // made once: closes nc

	probe probe // the check of an idle conn before reuse (platform dependent)

	// Sending by exchange (see exchange.go).
	ex       rawio.Exchanger // nc, when it is one; else nil
	out      []byte          // the request to send by exchange
	pending  bool            // the next Read sends out, by exchange
	quiet    bool            // that exchange first checks the conn
	notQuiet bool            // the last exchange found the conn not quiet
}

func newConn(p *hostPool, nc net.Conn, gen uint64) *conn {
	nc = rawio.Wrap(nc)
	c := &conn{p: p, nc: nc, gen: gen, limit: math.MaxInt64}
	c.tap.r = c
	c.br = bufio.NewReader(&c.tap)
	c.bw = bufio.NewWriter(c)
	// A request whose context ended cannot finish on this conn, so the
	// conn is closed, not only given a past deadline: a backend still
	// writing an answer that nobody reads (the client stopped reading, the
	// budget ran out) learns at once that its work is unwanted, as with
	// http.Transport, instead of when the answer's reader gives up.
	c.onCancel = func() { nc.Close() }
	c.cut.fire = c.onCancel
	c.probe.init(nc)
	c.ex, _ = nc.(rawio.Exchanger)
	return c
}

// close closes the connection for good, and stops its deadline's timer,
// which would otherwise hold the conn until it fires.
func (c *conn) close() {
	c.cut.stop()
	c.nc.Close()
}

// Read reads from the connection, counting, within the header limit.
func (c *conn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	var n int
	var err error
	if c.pending {
		n, err = c.exchange(p)
	} else {
		n, err = c.nc.Read(p)
	}
	c.nread += int64(n)
	c.limit -= int64(n)
	return n, err
}

// Write writes to the connection, counting.
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.nc.Write(p)
	c.nwritten += int64(n)
	if err != nil && c.wfail == nil {
		c.wfail = err
	}
	return n, err
}

// errHeaderTooLarge is wrapped by the error of a round trip whose answer's
// header, its informational answers included, is over the transport's
// MaxResponseHeaderBytes. The node's doing, after it was sent the request:
// the caller takes it as any other broken answer (upstream's Failed: a
// 502, the node blamed).
var errHeaderTooLarge = errors.New("h1: response header too large")

// headerTooLarge returns the error of an answer whose header took all of
// bound's bytes.
func headerTooLarge(bound int64) error {
	return fmt.Errorf("%w: over %d bytes, informational answers included", errHeaderTooLarge, bound)
}

// roundTrip writes wr, the request or its rewound copy, and reads the
// response to req. On error the conn is gone; on success it belongs to the
// response body (or is back in the pool when there is none). try, when not
// zero, is the round trip's own deadline (see RoundTripBy), before ctx's.
func (c *conn) roundTrip(ctx context.Context, try time.Time, req, wr *http.Request) (*http.Response, stage, error) {
	// A context that can end ends at its deadline too (context.WithDeadline
	// cancels it then), so the AfterFunc alone bounds the I/O: setting and
	// clearing the deadline on the socket as well would cost two timer
	// updates per request. Only a context with a deadline but no Done
	// channel, which no standard context is, gets the socket deadline.
	// A round trip's own deadline closes the conn when it passes, as the
	// end of a context with that deadline would, through a timer the conn
	// keeps for its life and moves only when it must (cut.go): that spares
	// the context, its timer and its cancellation hooks per round trip. A
	// lean context (package leanctx: the server's request context, the
	// budget's) arms no timer for its deadline, so it is not asked for
	// Done: its cancellation is registered with it (no allocation), and its
	// deadline, when the earlier, is cut by that same timer.
	cut := try
	if lc := leanctx.From(ctx); lc != nil {
		c.lean, c.leanReg = true, lc.Register(c.onCancel)
		if dl, ok := ctx.Deadline(); ok {
			c.ctxCut = dl
			if cut.IsZero() || dl.Before(cut) {
				cut = dl
			}
		}
	} else if ctx.Done() != nil {
		c.stop = context.AfterFunc(ctx, c.onCancel)
	} else if dl, ok := ctx.Deadline(); ok && (try.IsZero() || dl.Before(try)) {
		c.nc.SetDeadline(dl)
		c.hasDeadline = true
	}
	if !cut.IsZero() && !c.hasDeadline {
		c.try = try
		c.cut.arm(cut)
	}
	w0 := c.nwritten
	// A reused conn that the pool handed out unchecked (an Exchanger's)
	// is checked here, right before the request is sent: by the exchange
	// itself for a request without a body, else by a probe before the
	// body is read. See exchange.go.
	check := c.reused && c.ex != nil
	if check && hasBody(wr) {
		if !c.probe.ok() {
			return nil, stageNotQuiet, c.fail(ctx, "reuse idle connection", rawio.ErrNotQuiet)
		}
		check = false
	}
	exchange, err := c.buffer(wr)
	switch {
	case exchange || err != nil:
	case check && !c.probe.ok():
		return nil, stageNotQuiet, c.fail(ctx, "reuse idle connection", rawio.ErrNotQuiet)
	case writeRequest(c.bw, wr):
	case hasBody(wr):
		if err = c.writeBody(ctx, wr); err == errBodyStalled {
			// Its goroutine writes on, until the body's Read returns, to
			// a conn that fail closes; c.nwritten is its to change.
			return nil, stageWritten, c.fail(ctx, "write request", err)
		}
	default:
		err = wr.Write(c.bw)
	}
	if err == nil && !exchange {
		err = c.bw.Flush()
	}
	var werr error // the write's failure, when the answer is read after it
	if err != nil {
		st := stageWritten
		if c.nwritten == w0 {
			st = stageNothingWritten
		}
		if st == stageNothingWritten || exchange || !hasBody(wr) || !answeredEarly(err, c.wfail) {
			return nil, st, c.fail(ctx, "write request", err)
		}
		werr = err
	}
	r0 := c.nread
	bound := c.p.t.maxHeaderBytes()
	c.limit = bound
	if exchange {
		// The first read of the answer sends the request (see Read).
		c.pending, c.quiet = true, check
		_, err = c.br.Peek(1)
		c.pending = false
		short := c.nwritten-w0 < int64(len(c.out))
		if cap(c.out) > maxKeptOut {
			c.out = nil
		}
		if err != nil {
			switch {
			case c.notQuiet:
				return nil, stageNotQuiet, c.fail(ctx, "reuse idle connection", err)
			case c.nwritten == w0:
				return nil, stageNothingWritten, c.fail(ctx, "write request", err)
			case short:
				return nil, stageWritten, c.fail(ctx, "write request", err)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // as readResponse says it
			}
			return nil, stageWritten, c.fail(ctx, "read response header", err)
		}
	}
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		resp, err = readResponse(c.br, &c.tap, req)
		if err != nil {
			st := stageResponse
			if c.nread == r0 {
				st = stageWritten
				if werr != nil {
					return nil, st, c.fail(ctx, "write request", werr)
				}
			}
			if c.limit <= 0 {
				err = headerTooLarge(bound)
			}
			return nil, st, c.fail(ctx, "read response header", err)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n1xx >= max1xxAnswers {
			continue // read, counted, dropped: see max1xxAnswers
		}
		if err = got1xx(ctx, resp); err != nil {
			return nil, stageResponse, c.fail(ctx, "read response header", err)
		}
	}
	c.limit = math.MaxInt64
	reuse := werr == nil && !resp.Close && !wr.Close && resp.StatusCode >= 200 &&
		!hasToken(wr.Header["Connection"], "close")
	c.keepFor = keepAliveTimeout(resp.Header["Keep-Alive"])
	if resp.Body == http.NoBody {
		c.release(reuse)
		return resp, stageResponse, nil
	}
	var b *body
	if fb, ok := resp.Body.(*fastBody); ok && fb.wrap != nil {
		b = fb.wrap // room in the same allocation as the response
	} else {
		b = new(body)
	}
	*b = body{c: c, ctx: ctx, try: try, rc: resp.Body, reuse: reuse, left: resp.ContentLength}
	resp.Body = b
	return resp, stageResponse, nil
}

// answeredEarly reports whether err, the failure of writing a request
// body whose start was sent, came from the server's reset of the
// connection (or a write after it): wfail, the conn's own first write
// error, which Request.Write reports as the body's. A server that answers
// an upload before reading it (a 413, a 401) and closes causes it, and its
// answer, sent first, is still in the conn's receive queue: the round trip
// reads it as if the write had ended well (the conn is not reused), and
// fails with err, as before, only when there is none. Such an answer, the
// client's to get, was a 502 blamed on the node, as with http.Transport
// when its write fails first. The failure of a body's own Read (the
// client's) is never this one.
func answeredEarly(err, wfail error) bool {
	if be := (*reqBodyError)(nil); errors.As(err, &be) || wfail == nil {
		return false
	}
	return peerReset(wfail)
}

// peerReset reports whether err, a write's, is the server's reset of the
// connection, or a write after it.
func peerReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// fail closes the conn after an error of op and returns the error to
// report: one that wraps ctx.Err() when the context's end caused it, or
// context.DeadlineExceeded when the round trip's own deadline passed.
func (c *conn) fail(ctx context.Context, op string, err error) error {
	fired := c.stopCancel()
	hadDeadline, try := c.hasDeadline, c.try
	c.p.put(c, false)
	return ctxErr(ctx, try, op, err, fired, hadDeadline)
}

// ended returns why a round trip under ctx with its own deadline try (zero
// for none) must stop, or nil: ctx's error, else context.DeadlineExceeded
// once try has passed, as a context with that deadline would say.
func ended(ctx context.Context, try time.Time) error { return endedAt(ctx, try, time.Time{}) }

// endedAt is ended judged at now, a reading of time.Now just taken, which
// spares a lean ctx's Err (see leanctx.ErrAt) and try's check a reading
// each; a zero now makes it ended.
func endedAt(ctx context.Context, try, now time.Time) error {
	if err := leanctx.ErrAt(ctx, now); err != nil {
		return err
	}
	if !try.IsZero() {
		if now.IsZero() {
			now = time.Now()
		}
		if !now.Before(try) {
			return context.DeadlineExceeded
		}
	}
	return nil
}

// ctxErr returns err, wrapped to satisfy errors.Is(err, ended(ctx, try)) if
// the round trip has ended, or err is the timeout of ctx's deadline (which
// is the conn's only deadline, so ctx is ending too).
func ctxErr(ctx context.Context, try time.Time, op string, err error, fired, hadDeadline bool) error {
	if !fired && hadDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
		// The conn's timer can fire before ctx's timer for the same
		// instant: wait for ctx, boundedly.
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if cerr := ended(ctx, try); cerr != nil {
		if op == "" {
			return fmt.Errorf("h1: read body: %w (%w)", cerr, err)
		}
		return fmt.Errorf("h1: %s: %w (%w)", op, cerr, err)
	}
	if op == "" {
		return err
	}
	return fmt.Errorf("h1: %s: %w", op, err)
}

// stopCancel stops the context's AfterFunc and the round trip's own
// deadline, and reports whether either ran (or is running): then the conn
// is closed and must not be reused.
func (c *conn) stopCancel() (fired bool) {
	if c.stop != nil {
		fired = !c.stop()
		c.stop = nil
	}
	if c.lean {
		fired = !c.leanReg.Stop() || fired
		c.lean, c.leanReg = false, leanctx.Registration{}
	}
	return c.cut.disarm() || fired
}

// release ends the request the conn carried and gives the conn back to the
// pool, idle if reuse and it is clean, else to be closed.
func (c *conn) release(reuse bool) {
	if c.stopCancel() || c.br.Buffered() > 0 { // unasked-for bytes
		reuse = false
	}
	if reuse && c.hasDeadline {
		reuse = c.nc.SetDeadline(time.Time{}) == nil
	}
	c.hasDeadline, c.try, c.ctxCut = false, time.Time{}, time.Time{}
	c.p.put(c, reuse)
}

// liftTry ends the round trip's own deadline, keeping its lean context's:
// see LiftTry.
func (c *conn) liftTry() {
	if c.try.IsZero() {
		return
	}
	c.try = time.Time{}
	c.cut.move(c.ctxCut)
}

// got1xx hands an informational answer to the request's
// httptrace.ClientTrace.Got1xxResponse, as http.Transport does; an error it
// returns ends the round trip. A request without the hook skips the answer.
func got1xx(ctx context.Context, resp *http.Response) error {
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
		return trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header))
	}
	return nil
}
