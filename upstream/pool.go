package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream/h1"
)

// Defaults of the connection pool of NewTransport.
const (
	DefaultMaxConnsPerNode = 256
	DefaultIdleTimeout     = 30 * time.Second
)

// TransportOptions tune the connection pool of NewTransportWith. Zero
// values mean the defaults.
type TransportOptions struct {
	// MaxConnsPerNode bounds the connections to one node, idle and busy;
	// attempts beyond it wait for one, within their budget.
	MaxConnsPerNode int
	// MaxIdlePerNode bounds the idle connections kept per node. Zero means
	// MaxConnsPerNode.
	MaxIdlePerNode int
	// IdleTimeout closes a connection idle for this long.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds the bytes read for a node's answer
	// header, its informational (1xx) answers included: a larger one fails
	// the attempt, a broken answer of the node's (Failed). Zero means
	// h1.DefaultMaxResponseHeaderBytes, 64 KiB, not net/http's 10 MiB: a
	// node's bytes are not trusted, and each of its connections may hold
	// a header (see h1.Transport.MaxResponseHeaderBytes).
	MaxResponseHeaderBytes int64
	// ConnectTimeout bounds the connect of a connection to a node, and
	// on its own the TLS handshake with a node reached over TLS
	// (WithServiceTLS): see DefaultConnectTimeout, what zero means. A
	// negative value leaves both to the attempt's deadline alone.
	ConnectTimeout time.Duration
	// OnTLSFailure, when not nil, is told of each TLS handshake with a
	// node that failed by the node's doing, with the node's address and
	// why (h1.Transport.OnHandshakeFailure). It must not block.
	OnTLSFailure func(node string, err error)
}

// NewLeanTransport returns the transport a Client uses by default: an
// h1.Transport, which does each HTTP/1.1 round trip in the caller's
// goroutine, with the pool limits of o, in front of its default Fallback, an
// http.Transport, for what it does not handle (TLS, upgrades, Expect:
// 100-continue, large or unknown-length request bodies). Both count their
// connections to a node against the one MaxConnsPerNode, and only the h1
// pool keeps plain-HTTP connections idle: one pool and one limit per node.
// It closes the connections of a node that left discovery, busy ones as
// they are released.
//
// It is the default because it spends less CPU per request than
// http.Transport (no per-connection goroutines, no channel hand-offs) with
// the same protocol code, and it is as safe to share between callers: it
// reuses a connection only when a non-blocking peek just before the reuse
// finds that the node sent nothing on it (and did not close it) while idle,
// for every request, so an unrequested answer never reaches the next caller.
// See docs/rpc.md ("Transport") and the h1 package doc.
func NewLeanTransport(o TransportOptions) *h1.Transport {
	o = o.withDefaults()
	return &h1.Transport{
		DialContext:            dialWithin(o.ConnectTimeout),
		TLSHandshakeTimeout:    o.connectTimeout(), // a TLS node's connect is done when its handshake is
		OnHandshakeFailure:     o.OnTLSFailure,
		MaxConnsPerHost:        o.MaxConnsPerNode,
		MaxIdlePerHost:         o.MaxIdlePerNode,
		IdleTimeout:            o.IdleTimeout,
		MaxResponseHeaderBytes: o.MaxResponseHeaderBytes,
	}
}

var dialer = &net.Dialer{KeepAlive: 30 * time.Second}

// DefaultConnectTimeout bounds the connect of a connection to a node.
//
// A node whose connects hang (its accept queue full, or a host that drops
// packets) would otherwise hold each attempt on it until the attempt's
// deadline: the per-try timeout when there is one, else the request's
// budget, as for a request that is not idempotent or a service that has
// not yet given the 20 answers a per-try timeout is derived from. Such a
// request was answered 504 although nothing had been sent, and, its
// budget spent being nobody's fault, the node was never ejected: it kept
// drawing requests (TestUnreachableNodeConnectHangs in e2e/hostile). A
// connect that has not completed within a second (Linux sends a lost SYN
// again only after one) is given up instead, and the attempt, provably
// not sent, is retried on another node whatever its method.
// TransportOptions.ConnectTimeout sets another.
const DefaultConnectTimeout = time.Second

// ErrConnectTimeout is the error, inside the *net.OpError of the dial, of
// an attempt whose connect took DefaultConnectTimeout. It is no context
// error: the attempt is NotSent (retried for any method), not the end of
// its deadline; and, unlike a refused connection, it counts as a fault of
// the node, towards its ejection (a node that does not answer a connect is
// not known dead, and probing it costs a request a connect timeout).
var ErrConnectTimeout error = connectTimeoutError{}

type connectTimeoutError struct{}

func (connectTimeoutError) Error() string   { return "connect timed out" }
func (connectTimeoutError) Timeout() bool   { return true }
func (connectTimeoutError) Temporary() bool { return true }

// dialWithin returns a dial that connects as dialer does, within its
// context and at most limit (DefaultConnectTimeout when zero; no limit
// when negative): a connect that takes longer fails with
// ErrConnectTimeout. When the context ends first, its end fails the
// connect as before: the attempt's own deadline, not the node, cut it.
func dialWithin(limit time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	limit = TransportOptions{ConnectTimeout: limit}.connectTimeout()
	if limit < 0 {
		return dialer.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		at := time.Now().Add(limit)
		if d, ok := ctx.Deadline(); ok && !at.Before(d) {
			return dialer.DialContext(ctx, network, addr)
		}
		dctx, cancel := context.WithDeadline(ctx, at)
		defer cancel()
		c, err := dialer.DialContext(dctx, network, addr)
		// The dialer's own timer (the socket's deadline) may fire before
		// dctx's: a timeout while ctx lives is the connect timeout either way.
		if ne := net.Error(nil); err != nil && ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
			op := &net.OpError{Op: "dial", Net: network, Err: ErrConnectTimeout}
			if o, ok := err.(*net.OpError); ok {
				op.Source, op.Addr = o.Source, o.Addr
			}
			return nil, op
		}
		return c, err
	}
}

// connectTimeout returns the bound on a connect: ConnectTimeout, else
// DefaultConnectTimeout; negative, none.
func (o TransportOptions) connectTimeout() time.Duration {
	if o.ConnectTimeout == 0 {
		return DefaultConnectTimeout
	}
	return o.ConnectTimeout
}

func (o TransportOptions) withDefaults() TransportOptions {
	if o.MaxConnsPerNode <= 0 {
		o.MaxConnsPerNode = DefaultMaxConnsPerNode
	}
	if o.MaxIdlePerNode <= 0 || o.MaxIdlePerNode > o.MaxConnsPerNode {
		o.MaxIdlePerNode = o.MaxConnsPerNode
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxResponseHeaderBytes <= 0 {
		o.MaxResponseHeaderBytes = h1.DefaultMaxResponseHeaderBytes
	}
	return o
}

// NewTransport returns an *http.Transport with the default pool limits: see
// NewTransportWith.
func NewTransport() *http.Transport { return NewTransportWith(TransportOptions{}) }

// NewTransportWith returns an HTTP/1.1 transport with keep-alive pools
// bounded per node and idle connections evicted, and no timeouts of its own
// but DefaultConnectTimeout: every wait is bounded by the attempt's
// context, so by the budget. It is
// the fallback of NewLeanTransport, and a transport that needs no care.
func NewTransportWith(o TransportOptions) *http.Transport {
	o = o.withDefaults()
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            dialWithin(o.ConnectTimeout),
		MaxIdleConns:           0, // bounded per node instead
		MaxIdleConnsPerHost:    o.MaxIdlePerNode,
		MaxConnsPerHost:        o.MaxConnsPerNode,
		IdleConnTimeout:        o.IdleTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: o.MaxResponseHeaderBytes,
	}
}

// idleCloser is the part of *http.Transport the client uses to drop the
// connections of nodes that left discovery.
type idleCloser interface{ CloseIdleConnections() }

// hostCloser is the part of *h1.Transport that does it node by node.
type hostCloser interface{ CloseHost(hostport string) }

// departed is told of the nodes that a new snapshot of a service no longer
// lists: their idle connections are closed at once and, as their requests in
// flight finish, the connections those free are closed too.
func (c *Client) departed(gone []*registry.Node) {
	if hc, ok := c.transport.(hostCloser); ok {
		for _, n := range gone {
			hc.CloseHost(n.Address)
		}
		return
	}
	ic, ok := c.transport.(idleCloser)
	if !ok || len(gone) == 0 {
		return
	}
	// http.Transport can only close every idle connection: the others are
	// dialled again on demand, a small price on the rare change of a
	// service's nodes.
	ic.CloseIdleConnections()
	go func() {
		deadline := time.Now().Add(2 * DefaultIdleTimeout)
		for time.Now().Before(deadline) {
			busy := false
			for _, n := range gone {
				if c.loads.InFlight(n) > 0 {
					busy = true
				}
			}
			if !busy {
				ic.CloseIdleConnections()
				return
			}
			time.Sleep(100 * time.Millisecond) // polls a counter; bounded by deadline
		}
	}()
}

// noteSnapshot remembers the nodes discovery gave for service and, when
// they changed, lets go of the connections of the nodes that left.
func (c *Client) noteSnapshot(svc *service, nodes []*registry.Node) {
	p := &svc.discovered
	old := p.Load()
	if old != nil && sameSlice(*old, nodes) {
		return
	}
	next := new([]*registry.Node) // allocated only when the nodes changed
	*next = nodes
	if !p.CompareAndSwap(old, next) {
		return
	}
	c.loads.Know(nodes)
	if c.limits != nil {
		c.limits.know(nodes)
	}
	if old != nil {
		c.departed(goneFrom(*old, nodes))
		c.arrived(goneFrom(nodes, *old))
	}
}

// arrived is told of the nodes that a new snapshot of a service lists and
// the one before did not: new instances, or nodes back after an absence (a
// restarted node registering again). Whatever ejection, refusal or penalty
// they left with is forgotten: their first attempt is a probe.
func (c *Client) arrived(nodes []*registry.Node) {
	for _, n := range nodes {
		c.loads.Forgive(n)
		if c.ejector != nil {
			c.ejector.Arrived(n)
		}
	}
}

// goneFrom returns the nodes of old that next does not list, as
// registry.Node.Same tells them apart.
//
// It runs in the request that first sees a new snapshot, so it must not
// cost that request more than the snapshot's size: compared pair by pair,
// a catalog of 5,000 nodes that lost one cost it 160 ms, and one of 20,000
// 2.7 s, on every change (a large service whose nodes flap changes once a
// second). Small snapshots keep the pairwise loop, which allocates nothing.
func goneFrom(old, next []*registry.Node) []*registry.Node {
	var gone []*registry.Node
	if len(old)*len(next) > 256 {
		in := make(map[sameKey]struct{}, len(next))
		for _, n := range next {
			in[sameKeyOf(n)] = struct{}{}
		}
		for _, o := range old {
			if _, ok := in[sameKeyOf(o)]; !ok {
				gone = append(gone, o)
			}
		}
		return gone
	}
outer:
	for _, o := range old {
		for _, n := range next {
			if o.Same(n) {
				continue outer
			}
		}
		gone = append(gone, o)
	}
	return gone
}

// sameKey holds what registry.Node.Same compares: two nodes are the Same
// exactly when their sameKeys are equal.
type sameKey struct{ service, id, address, instance string }

func sameKeyOf(n *registry.Node) sameKey {
	return sameKey{n.Service, n.ID, n.Address, n.Metadata[registry.MetaInstance]}
}
