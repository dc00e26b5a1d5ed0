package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"
)

// TLS to nodes.
//
// An https request without more goes to the Fallback, and the default
// Fallback verifies its server against the system's roots and the URL's
// host, with no client certificate. That does not fit a load balancer's
// nodes: a node found in a registry is an address, the nodes of a service
// commonly share one certificate naming the service, signed by an
// authority of the operator's own, and they may ask for the caller's
// certificate (mutual TLS). So an https request sent under a context from
// WithTLS handshakes as that context's tls.Config says.
//
// Each tls.Config has an *http.Transport of its own for each node, made on
// its first request and kept until ForgetTLS, or CloseHost for the node:
// connections made with one certificate or one set of authorities are
// never reused for a request that asked for another, and those of a node
// that left discovery close with its plain ones (net/http closes idle
// connections only all at once). Like the default Fallback's, its
// connections count against MaxConnsPerHost with this transport's
// (sharedDial), its answers keep their Connection fields and are held to
// MaxResponseHeaderBytes (it reads through a tapConn over the TLS
// connection: tappedTrip), and a 101's connection leaves the host's pool. Unlike plain-HTTP requests of the
// Fallback, which go out with Connection: close so that every reusable
// plain connection is this transport's, its connections are pooled there:
// a handshake per request would cost more than the request.
//
// The handshake is made by dialTLS, not by net/http, so that its failure
// is an error that wraps ErrNothingWritten: no byte of the request reached
// the node (a certificate that does not verify, a node that does not speak
// TLS), and the request may be sent to another node whatever its method.
// A handshake takes at most Transport.TLSHandshakeTimeout, within the
// request's context: a node that takes connections but stalls its
// handshake is then given up as one whose connect hangs is, not waited
// for until the request's budget ends. net/http dials under a context
// that outlives the request; this one's dial and handshake do not
// (untilRoundTripEnds, shared.go), and a request that ends before it was
// handed a connection fails with a HandshakeError too: it wrote nothing.

// DefaultTLSHandshakeTimeout is Transport.TLSHandshakeTimeout when zero:
// net/http's default transport allows 10 s as well.
const DefaultTLSHandshakeTimeout = 10 * time.Second

// errHandshakeTimeout is the error of a handshake that took the
// transport's TLSHandshakeTimeout.
var errHandshakeTimeout = errors.New("timed out")

type tlsKey struct{}

// WithTLS returns a copy of ctx under which an https request sent by a
// Transport without a Fallback of its own (RoundTrip, RoundTripBy,
// RoundTripAt) handshakes with cfg: cfg's authorities verify the node's
// certificate (the system's when RootCAs is nil), cfg's ServerName is the
// name it must hold and the one sent (the host of the node's address when
// empty), and cfg's client certificate answers a node that asks for one.
// cfg must not be changed once used; requests sent with the same *tls.Config
// share connections. Plain-HTTP requests ignore it.
func WithTLS(ctx context.Context, cfg *tls.Config) context.Context {
	return context.WithValue(ctx, tlsKey{}, cfg)
}

// tlsOf returns the tls.Config of WithTLS in ctx, nil when there is none.
func tlsOf(ctx context.Context) *tls.Config {
	cfg, _ := ctx.Value(tlsKey{}).(*tls.Config)
	return cfg
}

// ForgetTLS closes the idle connections made with cfg and forgets them: a
// caller that no longer sends requests with cfg (a configuration reload
// replaced it) calls it so that they do not wait out IdleTimeout. Busy
// connections close when their requests end. A later request with cfg
// starts again.
func (t *Transport) ForgetTLS(cfg *tls.Config) {
	t.forgetTLS(func(k tlsKeyOf) bool { return k.cfg == cfg })
}

// forgetTLS forgets the transports whose key is, closing their idle
// connections now and their busy ones as their requests end.
func (t *Transport) forgetTLS(is func(tlsKeyOf) bool) {
	t.tlsTransports.Range(func(k, v any) bool {
		if is(k.(tlsKeyOf)) {
			t.tlsTransports.Delete(k)
			v.(*http.Transport).CloseIdleConnections()
		}
		return true
	})
}

// tlsKeyOf is the key of a transport of https requests: their tls.Config
// and their node (the URL's host).
type tlsKeyOf struct {
	cfg  *tls.Config
	host string
}

// tlsTransport returns the transport of the https requests to host sent
// with cfg.
func (t *Transport) tlsTransport(cfg *tls.Config, host string) *http.Transport {
	key := tlsKeyOf{cfg, host}
	if v, ok := t.tlsTransports.Load(key); ok {
		return v.(*http.Transport)
	}
	tr := t.netHTTP()
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return t.dialTLS(ctx, network, addr, cfg)
	}
	v, _ := t.tlsTransports.LoadOrStore(key, tr)
	return v.(*http.Transport)
}

// tlsTrip sends req, an https request sent under WithTLS(cfg).
func (t *Transport) tlsTrip(cfg *tls.Config, req *http.Request) (*http.Response, error) {
	resp, trips, err := t.tappedTripConn(t.tlsTransport(cfg, req.URL.Host), req)
	var he *HandshakeError
	if err != nil && !errors.As(err, &he) && (trips == 0 || trips == 1 && refusedHandshake(err)) {
		// No connection was handed to the request (net/http returns the
		// context's error when it ends during the dial or the handshake,
		// which go on without it), or the node refused its certificate
		// on a new connection, the request's own.
		if trips == 1 {
			t.handshakeFailed(req.URL.Host, err)
		}
		return nil, &HandshakeError{Addr: req.URL.Host, Err: err}
	}
	return resp, err
}

// refusedHandshake reports whether err is a node's alert that refuses the
// handshake for the certificate it was given (or was not). In TLS 1.3 the
// client's side of the handshake ends before the server has checked the
// client's certificate, so a node that refuses it says so only as the
// first answer is read; it reads no request before its handshake ends, so
// nothing was sent, as when dialTLS's handshake fails. Only on a new
// connection, the first answer read from it: on one reused, the handshake
// was long accepted and the request may have been processed, whatever
// alert the node sends after it (a POST it processed was sent again).
func refusedHandshake(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	msg := op.Err.Error()
	for _, a := range certificateAlerts {
		if msg == a.Error() {
			return true
		}
	}
	return false
}

// certificateAlerts are the TLS alerts a server sends when it refuses a
// client's certificate, or the lack of one (RFC 8446, section 6.2).
var certificateAlerts = []tls.AlertError{
	42,  // bad_certificate
	43,  // unsupported_certificate
	44,  // certificate_revoked
	45,  // certificate_expired
	46,  // certificate_unknown
	48,  // unknown_ca
	49,  // access_denied
	116, // certificate_required
}

// dialTLS dials addr within the host's limit and makes the TLS handshake
// of cfg on the connection. The conn it returns is a tapConn over the TLS
// connection (see tappedTrip).
func (t *Transport) dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	ctx, stop := untilRoundTripEnds(ctx) // not net/http's dial that outlives it (shared.go)
	defer stop()
	nc, err := t.sharedDial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" || !slices.Equal(cfg.NextProtos, http11) {
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		// This transport speaks HTTP/1.1 alone, and says so: a config
		// that offers h2 too (one written for another client) had a node
		// that speaks it take this connection's HTTP/1.1 request for a
		// broken HTTP/2 one, after it was sent.
		cfg.NextProtos = http11
	}
	hctx, cancel := ctx, context.CancelFunc(nil)
	if d := t.handshakeTimeout(); d > 0 {
		hctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		if hctx.Err() != nil && ctx.Err() == nil {
			err = errHandshakeTimeout // the node's slowness, not the request's end
		}
		if ctx.Err() == nil {
			t.handshakeFailed(addr, err)
		}
		return nil, &HandshakeError{Addr: addr, Err: err}
	}
	return &tapConn{Conn: tc, maxKept: t.maxHeaderBytes() + fallbackReadBuffer}, nil
}

// handshakeFailed tells OnHandshakeFailure, if any, of a handshake with
// addr that failed by the node's doing.
func (t *Transport) handshakeFailed(addr string, err error) {
	if t.OnHandshakeFailure != nil {
		t.OnHandshakeFailure(addr, err)
	}
}

func (t *Transport) handshakeTimeout() time.Duration {
	if t.TLSHandshakeTimeout == 0 {
		return DefaultTLSHandshakeTimeout
	}
	return t.TLSHandshakeTimeout
}

// http11 is the one protocol dialTLS offers (ALPN).
var http11 = []string{"http/1.1"}

// HandshakeError is the error of a round trip whose TLS handshake with its
// node failed: its certificate did not verify, it asked for a client
// certificate none was given for, or it did not answer as TLS; or of one
// whose request ended before the handshake did, or before it was handed a
// connection. Nothing of the request was written (it wraps
// ErrNothingWritten).
type HandshakeError struct {
	Addr string // the node's address
	Err  error  // crypto/tls's error, or the context's
}

// Error says which node's handshake failed, and why.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("h1: TLS handshake with %s: %v", e.Addr, e.Err)
}

// Unwrap returns ErrNothingWritten and the handshake's error, but for a
// context's: a handshake cut by a per-try deadline is a node slow to
// shake hands, to which nothing was sent, not a request that timed out at
// the node.
func (e *HandshakeError) Unwrap() []error {
	if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled) {
		return []error{ErrNothingWritten}
	}
	return []error{ErrNothingWritten, e.Err}
}
