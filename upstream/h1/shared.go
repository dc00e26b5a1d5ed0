package h1

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// One limit per host, whichever transport carries the request.
//
// The default Fallback is an *http.Transport with a pool of its own. Were
// its connections not counted with this transport's, a node could be sent
// twice MaxConnsPerHost connections, and two pools would age, check and
// evict connections to one node in two ways. So the default Fallback dials
// through sharedDial, which takes a slot of the host's pool (waiting for one
// like any request of this transport) and gives it back when the
// connection closes; and a plain-HTTP request it carries is sent with
// Connection: close (upgrades and CONNECT excepted: their connection is the
// caller's), so that every reusable connection to an http node sits in this
// transport's pool, checked before reuse as the package doc says. What the
// Fallback carries (uploads over MaxInlineBody or of unknown length,
// Expect: 100-continue, trailers) pays a dial per request: little beside
// the body it sends. Connections to https nodes, which only the Fallback
// carries, stay pooled there and count against the same limit.
//
// A Fallback set by the caller keeps its own pool and limits.
//
// net/http dials under a context that keeps its request's values but not
// its end, so that a dial outlives the request for another's sake. Here
// that dial first waits for a slot, and for an https node makes its
// handshake: had they outlived the request, each request given up while
// its node's slots were all taken left a goroutine waiting for one, for
// as long as the node stayed full, and then a connection dialled for
// nobody; and a handshake a node stalled, with no handshake timeout
// (Transport.TLSHandshakeTimeout < 0), held its goroutine, descriptor and
// slot for good, one more with each request, until the node's slots were
// all held by handshakes no request waited for. So a tapped round trip
// puts its context among its values (withTap), and the Fallback's dials
// end when it does (untilRoundTripEnds).

// sharedDial dials addr for the default Fallback within the host's limit.
func (t *Transport) sharedDial(ctx context.Context, _, addr string) (net.Conn, error) {
	for {
		p := t.pool(addr)
		err := p.acquire(ctx)
		if err == errPoolGone {
			continue
		}
		if err != nil {
			return nil, err
		}
		nc, err := t.dial(ctx, addr)
		if err != nil {
			p.release()
			return nil, err
		}
		return &slotConn{Conn: nc, p: p}, nil
	}
}

// roundTripKey is the key of a tapped round trip's own context, among its
// values.
type roundTripKey struct{}

// untilRoundTripEnds returns ctx, a dial's, ended also when the round trip
// it dials for ends, if ctx holds one (see the comment at the top of the
// file); stop releases it once the dial is done.
func untilRoundTripEnds(ctx context.Context) (_ context.Context, stop func()) {
	rt, _ := ctx.Value(roundTripKey{}).(context.Context)
	if rt == nil || rt.Done() == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(rt, func() { cancel(context.Cause(rt)) })
	return ctx, func() {
		unhook()
		cancel(nil)
	}
}

// slotConn is a Fallback connection holding a slot of its host's pool
// until it is closed.
type slotConn struct {
	net.Conn
	p    *hostPool
	once sync.Once
}

// CloseWrite half-closes the connection when it can: a 101's connection,
// which net/http returns as the answer's body, is this conn, and a tunnel
// passes its client's end of stream on through it (without it the tunnel
// closed the backend's connection whole, and the backend's reply after the
// client's half-close was lost).
func (c *slotConn) CloseWrite() error { return CloseWrite(c.Conn) }

// CloseWrite half-closes w, a connection or a 101 answer's body, when it
// has a CloseWrite method, and returns http.ErrNotSupported when it has
// not: the one way every wrapper of a switched connection passes a
// half-close on.
func CloseWrite(w any) error {
	if cw, ok := w.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return http.ErrNotSupported
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.p.release)
	return err
}

// leave gives the conn's slot back while the conn stays open: a 101 handed
// it to the caller, a tunnel that is no longer the pool's. A tunnel lives
// for minutes or hours, idle most of the time; had it kept its slot, the
// host's MaxConnsPerHost idle WebSockets (256 by default, which one client
// opens at no cost) left no connection for any other request to the host,
// each then waiting for one until its deadline. net/http's Transport
// likewise stops counting such a conn against its MaxConnsPerHost.
func (c *slotConn) leave() { c.once.Do(c.p.release) }

// toFallback sends req to Fallback; see the comment at the top of the file
// for the copy with Close set, and fallbackconn.go for the default
// Fallback's round trip.
func (t *Transport) toFallback(req *http.Request) (*http.Response, error) {
	if t.Fallback != nil {
		return t.Fallback.RoundTrip(req)
	}
	if req.URL.Scheme != "http" {
		if cfg := tlsOf(req.Context()); cfg != nil && req.URL.Scheme == "https" {
			return t.tlsTrip(cfg, req) // tls.go
		}
		return t.fallback().RoundTrip(req)
	}
	if req.Close || req.Method == http.MethodConnect ||
		len(req.Header["Upgrade"]) > 0 || hasToken(req.Header["Connection"], "upgrade") {
		return t.tappedTrip(t.fallback(), req)
	}
	r2 := *req
	r2.Close = true
	return t.tappedTrip(t.fallback(), &r2)
}
