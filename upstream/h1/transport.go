package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the zero Transport.
const (
	DefaultMaxConnsPerHost = 256
	DefaultIdleTimeout     = 30 * time.Second

	// DefaultMaxResponseHeaderBytes is the default of
	// Transport.MaxResponseHeaderBytes: 64 KiB, where net/http's
	// transport allows 10 MiB. Every byte a backend sends is untrusted:
	// a header is held whole in memory while it is read, on each of up to
	// DefaultMaxConnsPerHost connections per node, and the gateway passes
	// it on to its client; at 10 MiB one misbehaving node (or one whose
	// cookies grew without end) could make the gateway hold gigabytes and
	// send clients multi-MiB headers. 64 KiB is what the gateway allows a
	// client's request header, far above any real answer's (Envoy's
	// default is 60 KiB, nginx's proxy buffer 4 or 8 KiB).
	DefaultMaxResponseHeaderBytes = 64 << 10
)

// ErrNothingWritten is wrapped by every error of a round trip that wrote no
// byte of the request to a connection: the server provably never saw it, so
// it may be sent again, elsewhere, whatever its method.
var ErrNothingWritten = errors.New("h1: nothing written")

// Transport is an HTTP/1.1 http.RoundTripper that does each round trip in
// the caller's goroutine; see the package doc. The zero Transport is ready
// to use with the defaults. Its fields must not change once it is in use.
type Transport struct {
	// DialContext dials the connections. Nil means a net.Dialer with a
	// 30 s TCP keep-alive. Only a conn that implements syscall.Conn (as
	// *net.TCPConn does) can be checked before reuse, so only such conns
	// are reused (see the package doc).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Fallback carries the requests this transport does not handle (see
	// the package doc). Nil means an *http.Transport, made on first use,
	// with the same dialer and no compression, whose connections count
	// against MaxConnsPerHost with this transport's own and which keeps no
	// plain-HTTP connection idle (see shared.go), and whose plain-HTTP
	// answers keep their Connection fields as this transport's do
	// (fallbackconn.go). A
	// Fallback set here keeps its own pool and limits, and its answers are
	// passed on as it returns them.
	Fallback http.RoundTripper

	// MaxConnsPerHost bounds the connections to one host, busy and idle,
	// this transport's and the default Fallback's together. Callers beyond
	// it wait for one. Zero or less means
	// DefaultMaxConnsPerHost.
	MaxConnsPerHost int

	// MaxIdlePerHost bounds the idle connections kept per host. Zero or
	// less, or more than MaxConnsPerHost, means MaxConnsPerHost.
	MaxIdlePerHost int

	// IdleTimeout closes a connection idle for this long. Zero or less
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration

	// MaxInlineBody is the largest request body this transport sends
	// itself; a larger one, or one of unknown length, goes to Fallback.
	// This transport writes the whole request before it reads the answer,
	// so a server that answers early and stops reading (a 413 to a large
	// upload) would fail the round trip, where http.Transport, reading while
	// it writes, returns that answer. Zero means DefaultMaxInlineBody; less
	// than zero, no bound.
	MaxInlineBody int64

	// MaxResponseHeaderBytes bounds the bytes read for an answer's
	// header, status line included, with those of the informational (1xx)
	// answers before it; no more than 5 of those are read. An answer over
	// it fails the round trip, as a malformed one does, on this
	// transport's own connections and on the default Fallback's (its
	// http.Transport's MaxResponseHeaderBytes, and the tap of its
	// plain-HTTP conns for the 1xx: see fallbackconn.go). Zero or less
	// means DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int64

	// TLSHandshakeTimeout bounds the TLS handshake with a node of a
	// request sent with WithTLS (tls.go), within the request's deadline; a
	// handshake that takes it fails as one refused does, sending nothing.
	// Zero means DefaultTLSHandshakeTimeout; less than zero, no bound but
	// the request's.
	TLSHandshakeTimeout time.Duration

	// OnHandshakeFailure, when not nil, is told of each TLS handshake of
	// a WithTLS request that failed by its node's doing (a certificate
	// that does not verify or that the node refused, a node that does not
	// speak TLS, one that took TLSHandshakeTimeout), with the node's
	// address: the request goes to another node, and without it a node
	// whose certificate expired is seen only in counts of attempts not
	// sent. Not of a handshake its request's end cut. It must not block.
	OnHandshakeFailure func(addr string, err error)

	now func() time.Time // the pool's clock; nil means monoNow (tests set it)

	mu    sync.Mutex                           // serializes changes of hosts; guards fb
	hosts atomic.Pointer[map[string]*hostPool] // copied on write

	fbOnce sync.Once
	fb     http.RoundTripper

	tlsTransports sync.Map // tlsKeyOf → *http.Transport: tls.go
}

var defaultDialer = &net.Dialer{KeepAlive: 30 * time.Second}

func (t *Transport) maxConns() int {
	if t.MaxConnsPerHost <= 0 {
		return DefaultMaxConnsPerHost
	}
	return t.MaxConnsPerHost
}

func (t *Transport) maxIdle() int {
	if m := t.maxConns(); t.MaxIdlePerHost <= 0 || t.MaxIdlePerHost > m {
		return m
	}
	return t.MaxIdlePerHost
}

func (t *Transport) maxHeaderBytes() int64 {
	if t.MaxResponseHeaderBytes <= 0 {
		return DefaultMaxResponseHeaderBytes
	}
	return t.MaxResponseHeaderBytes
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return t.IdleTimeout
}

// clock returns the time on the clock the pools time idle conns with.
func (t *Transport) clock() time.Time { return t.clockAt(time.Time{}) }

// clockAt returns now, a reading of time.Now just taken, as the time on
// the pools' clock, or reads that clock when now is zero or the clock is a
// test's.
func (t *Transport) clockAt(now time.Time) time.Time {
	switch {
	case t.now != nil:
		return t.now()
	case now.IsZero():
		return monoNow()
	}
	return now
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is time.Now read off the monotonic clock alone, one reading
// where time.Now takes two (the wall clock's too): the pools only ever
// subtract their times from one another, which package time does on the
// monotonic readings.
func monoNow() time.Time { return monoBase.Add(time.Since(monoBase)) }

func (t *Transport) dial(ctx context.Context, addr string) (net.Conn, error) {
	if t.DialContext != nil {
		return t.DialContext(ctx, "tcp", addr)
	}
	return defaultDialer.DialContext(ctx, "tcp", addr)
}

func (t *Transport) fallback() http.RoundTripper {
	if t.Fallback != nil {
		return t.Fallback
	}
	t.fbOnce.Do(func() {
		fb := t.netHTTP()
		// Dials within this transport's limits (shared.go), conns that
		// keep an answer's head (fallbackconn.go).
		fb.DialContext = t.dialTapped
		t.mu.Lock()
		t.fb = fb
		t.mu.Unlock()
	})
	return t.fb
}

// netHTTP returns an *http.Transport with this transport's bounds, for
// the default Fallback and the transports of WithTLS (tls.go), which dial
// as each needs: a read buffer a tapConn can tell a full one by
// (fallbackReadBuffer), no compression.
func (t *Transport) netHTTP() *http.Transport {
	return &http.Transport{
		ReadBufferSize:         fallbackReadBuffer,
		MaxResponseHeaderBytes: t.maxHeaderBytes(),
		MaxIdleConnsPerHost:    t.maxIdle(),
		IdleConnTimeout:        t.idleTimeout(),
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
	}
}

// RoundTrip sends req and returns the response, whose body must be read to
// EOF or closed. The requests listed in the package doc go to Fallback.
//
// When a reused connection fails before any byte of the response arrives
// (the server had closed it while idle), the request is sent once more on a
// freshly dialled connection if it is replayable: no body or a GetBody to
// rewind it, and an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT,
// DELETE) or an Idempotency-Key or X-Idempotency-Key field. A request of
// which nothing was written is retried whatever its method, if its body can
// be rewound. A request whose body failed to read is never retried, and
// its error wraps the body's error but not ErrNothingWritten (as
// http.Transport returns the body's error alone): the failure tells nothing
// of the server.
//
// Requests sent to Fallback get its response and error unchanged.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, fmt.Errorf("h1: nil Request.URL: %w", ErrNothingWritten)
	}
	fallback, err := inspect(req)
	if fallback || t.bodyTooBig(req) {
		return t.toFallback(req)
	}
	if err != nil {
		return nil, refuse(req, err)
	}
	return t.roundTrip(req, req.URL.Host, time.Time{})
}

// RoundTripBy is RoundTrip with a deadline of the round trip's own, for a
// caller that would otherwise derive a context with that deadline for each
// round trip (a per-try timeout): it behaves as RoundTrip(req.WithContext(
// ctx)) where ctx is req's context with deadline as well, and the response
// body's Close cancels ctx. Its errors satisfy errors.Is(err,
// context.DeadlineExceeded) once deadline has passed, as they would with
// such a context; the response body, like every part of the round trip,
// fails at the deadline.
//
// It makes that context only when it must (the request goes to Fallback or
// has a body it writes from a goroutine, or deadline is not earlier than
// the context's). Otherwise a timer the connection keeps for its life
// closes it at the deadline, as the context's end would, and the wait for a
// connection and the dial, if any, run under a context with the deadline.
func (t *Transport) RoundTripBy(req *http.Request, deadline time.Time) (*http.Response, error) {
	if dl, ok := req.Context().Deadline(); ok && !deadline.Before(dl) {
		return t.RoundTrip(req)
	}
	if req.URL == nil {
		return t.byContext(req, deadline)
	}
	fallback, err := inspect(req)
	if fallback || t.bodyTooBig(req) || hasBody(req) && req.GetBody == nil {
		return t.byContext(req, deadline)
	}
	if err != nil {
		return nil, refuse(req, err)
	}
	return t.roundTrip(req, req.URL.Host, deadline)
}

// RoundTripAt is RoundTripBy, or RoundTrip when deadline is zero, for req
// sent to the server at addr (host:port) instead of req.URL.Host: it does
// what they would do with a copy of req whose URL's host is addr, without
// the copy when it can (it makes one for a request it gives to Fallback).
// It spares a caller that picks the server (a load balancer) a copy of the
// request per round trip. req.Host must be set: it names the host the
// request is for; with it empty, req.URL.Host would.
func (t *Transport) RoundTripAt(req *http.Request, addr string, deadline time.Time) (*http.Response, error) {
	if req.URL == nil || req.Host == "" || addr == "" {
		return t.copyTo(req, addr, deadline)
	}
	fallback, err := inspect(req)
	if fallback || t.bodyTooBig(req) || !deadline.IsZero() && hasBody(req) && req.GetBody == nil {
		return t.copyTo(req, addr, deadline)
	}
	if err != nil {
		return nil, refuse(req, err)
	}
	if dl, ok := req.Context().Deadline(); ok && !deadline.Before(dl) {
		deadline = time.Time{} // the context's comes first
	}
	return t.roundTrip(req, addr, deadline)
}

// copyTo sends a copy of req aimed at addr, as RoundTripAt describes.
func (t *Transport) copyTo(req *http.Request, addr string, deadline time.Time) (*http.Response, error) {
	if req.URL != nil {
		r2 := *req
		u := *req.URL
		u.Host = addr
		r2.URL = &u
		req = &r2
	}
	if deadline.IsZero() {
		return t.RoundTrip(req)
	}
	return t.RoundTripBy(req, deadline)
}

// byContext does what RoundTripBy describes under a context with deadline.
func (t *Transport) byContext(req *http.Request, deadline time.Time) (*http.Response, error) {
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	resp, err := t.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		cancel() // nothing more to read under ctx
		return resp, nil
	}
	if w, ok := resp.Body.(io.Writer); ok {
		// A 101's body is the connection, which the caller writes to and
		// half-closes (a tunnel): it stays so. Wrapped in a cancelBody alone,
		// a gateway's handshake sent under a per-try timeout (one is derived
		// once a service has given 20 answers) came back unwritable, and its
		// switch was answered 502.
		resp.Body = &cancelWriteBody{cancelBody: cancelBody{ReadCloser: resp.Body, cancel: cancel}, w: w}
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelWriteBody is a cancelBody that is also written to: a 101 answer's
// connection.
type cancelWriteBody struct {
	cancelBody
	w io.Writer
}

func (b *cancelWriteBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// CloseWrite half-closes the connection when it can, and returns
// http.ErrNotSupported when it cannot.
func (b *cancelWriteBody) CloseWrite() error { return CloseWrite(b.w) }

// cancelBody is the body of a response read under a context of
// RoundTripBy's making, which its Close cancels.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// roundTrip does the round trip of req, one this transport handles itself
// (inspect sent it nowhere else, and found nothing wrong with it), to addr,
// under req's context and, when not zero, its own deadline try.
func (t *Transport) roundTrip(req *http.Request, addr string, try time.Time) (*http.Response, error) {
	ctx := req.Context()
	// The one reading of the clock at the start: whether the round trip
	// has ended already, and which idle conns have been idle too long.
	now := time.Now()
	if err := endedAt(ctx, try, now); err != nil {
		closeBody(req)
		return nil, fmt.Errorf("h1: %w: %w", err, ErrNothingWritten)
	}
	wr := req // the request written: req, or a copy with a rewound body
	wrote := false
	retried := false
	fragile := !replayable(req) // takes only a freshly idle conn (idle.go)
	for {
		c, err := t.get(ctx, try, addr, retried, fragile, now)
		now = time.Time{} // a later conn, after a failure, is got at a reading of its own
		if err != nil {
			closeBody(wr)
			return nil, finalErr(ctx, try, err, wrote)
		}
		reused := c.reused
		resp, st, err := c.roundTrip(ctx, try, req, wr)
		if err == nil {
			return resp, nil
		}
		if reused && (st == stageNotQuiet || st == stageWritten) && ended(ctx, try) == nil {
			c.p.serverClosed(c) // idle.go: requests that cannot be sent again keep off such conns
		}
		if st == stageNotQuiet && ended(ctx, try) == nil {
			// The reused conn received bytes or its end while idle, and
			// was closed with nothing sent (nor any byte of the body
			// read): take another, as the pool does with an idle conn
			// that fails its probe. Not a retry.
			continue
		}
		if be := (*reqBodyError)(nil); errors.As(err, &be) {
			// The body's fault, not the conn's: as http.Transport, return
			// it without ErrNothingWritten, and do not send it again.
			return nil, finalErr(ctx, try, err, true)
		}
		wrote = wrote || st != stageNothingWritten && st != stageNotQuiet
		if !retried && reused && ended(ctx, try) == nil && retryable(req, st, err) {
			if rw, ok := rewind(req); ok {
				wr, retried = rw, true
				continue
			}
		}
		if st == stageNotQuiet {
			closeBody(wr)
		}
		return nil, finalErr(ctx, try, err, wrote)
	}
}

// get returns a connection to host, from the pool whose entry CloseHost
// may have removed meanwhile. The wait for one and the dial end at try too,
// when not zero. now, when not zero, is a reading of time.Now just taken,
// for the pool's eviction of idle conns.
func (t *Transport) get(ctx context.Context, try time.Time, host string, fresh, fragile bool, now time.Time) (*conn, error) {
	for {
		c, err := t.pool(host).get(ctx, try, fresh, fragile, now)
		if err != errPoolGone {
			return c, err
		}
	}
}

// finalErr makes err satisfy errors.Is(err, ended(ctx, try)) when the round
// trip has ended, and wrap ErrNothingWritten when nothing was written.
func finalErr(ctx context.Context, try time.Time, err error, wrote bool) error {
	if cerr := ended(ctx, try); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	if !wrote && !errors.Is(err, ErrNothingWritten) {
		err = fmt.Errorf("%w: %w", err, ErrNothingWritten)
	}
	return err
}

// retryable reports whether a round trip that failed at stage st on a
// reused connection may be sent again.
func retryable(req *http.Request, st stage, err error) bool {
	switch st {
	case stageNothingWritten:
		return true // still needs a rewindable body
	case stageWritten: // no byte of the response arrived
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		return replayable(req)
	}
	return false
}

// replayable is http.Transport's rule, with PUT and DELETE as idempotent.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// rewind returns the request to write again: req itself when it has no
// body, else a shallow copy with the body GetBody returns.
func rewind(req *http.Request) (*http.Request, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	r2 := *req
	r2.Body = b
	return &r2, true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// refuse closes req's body and returns err, the error of its validation,
// as one with which nothing was written.
func refuse(req *http.Request, err error) error {
	closeBody(req)
	return fmt.Errorf("%w: %w", err, ErrNothingWritten)
}

// hasToken reports whether a comma-separated list in vs holds token,
// ignoring case.
func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(part, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// DefaultMaxInlineBody is the default of Transport.MaxInlineBody.
const DefaultMaxInlineBody = 64 << 10

// bodyTooBig reports whether req's body goes to Fallback for its size.
func (t *Transport) bodyTooBig(req *http.Request) bool {
	limit := t.MaxInlineBody
	if limit == 0 {
		limit = DefaultMaxInlineBody
	}
	return limit > 0 && hasBody(req) && (req.ContentLength < 0 || req.ContentLength > limit)
}

// hasBody reports whether req has a body to send.
func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody
}
