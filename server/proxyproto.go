package server

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

// Behind a load balancer of layer 4 (AWS's NLB or CLB, HAProxy in TCP
// mode), every connection's peer is the balancer: the per-address bound of
// connections, the rate limits by address, allow_from, the access log and
// X-Forwarded-For would all see one client. Such balancers tell the real
// client with the PROXY protocol (v1, a text line; v2, a binary block),
// sent before anything else on the connection, TLS's ClientHello included.
// ProxyListener reads it, from the sources it trusts only, off the accept
// loop and under a deadline, and hands the servers connections whose
// RemoteAddr is the client the header names.

// ProxyHeaderTimeout is how long a connection from a trusted source has
// after its accept to send its whole PROXY header; one that has not is
// closed. It is the listener servers' header timeout of a first request,
// not less: AWS's NLB sends the header with the client's first bytes, not
// at the connect, so that a client that connects and waits to send (a
// browser's preconnect) is as silent behind it as it is without a
// balancer, and was cut off after 2 s where a listener without
// proxy_protocol waits 10 s. The protocol's specification asks for 3 s at
// least, to cover a TCP retransmit.
const ProxyHeaderTimeout = 10 * time.Second

// Proxy refusal reasons, told to ProxyOptions.OnRefuse.
const (
	// ProxyRefusedTimeout: no whole header within the timeout.
	ProxyRefusedTimeout = "timeout"
	// ProxyRefusedMalformed: no header, or one that does not parse (a bad
	// signature, version, command, family, length, address, or TLVs).
	ProxyRefusedMalformed = "malformed"
)

// errNothingSent is the error of a connection that ended, or timed out,
// before its first byte. A balancer's TCP health check connects and closes
// (NLB's, at every interval from each of its nodes), and NLB's
// connectivity tests connect and send nothing: such a connection sent no
// bad header, and is closed as a silent client is without a balancer,
// neither counted nor logged as a refusal.
var errNothingSent = errors.New("server: nothing sent before the PROXY header")

// ProxyOptions configure ProxyListener.
type ProxyOptions struct {
	// From reports whether a peer is a balancer that must send a PROXY
	// header. Connections from other peers are returned as they are, no
	// byte read.
	From func(netip.Addr) bool
	// Conns, when not nil, is the bound the servers given the listener's
	// connections count them under (Server.Conns, ConnLimit.Listener). A
	// connection waiting for its header counts in its whole bound from the
	// accept, and under its client's address once the header names it.
	Conns *ConnLimit
	// Timeout bounds the wait for a header; zero means ProxyHeaderTimeout.
	Timeout time.Duration
	// OnRefuse, when not nil, is told of each connection closed for its
	// header, with the reason (ProxyRefusedTimeout, ProxyRefusedMalformed);
	// not of one that sent nothing.
	// It must not block.
	OnRefuse func(reason string)
	// Logf, when not nil, is told of each such connection too.
	Logf func(format string, args ...any)
}

// ProxyListener returns ln reading the PROXY protocol header (v1 or v2)
// of the connections from o.From: each is read in a goroutine of its own,
// within o.Timeout, so that a slow or silent balancer connection holds no
// other; the connection returned then reports the header's source as its
// RemoteAddr. A LOCAL header (v2; v1's UNKNOWN), which a balancer's own
// health checks send, keeps the real peer. A connection whose header is
// malformed or late is closed: there is nothing to answer in HTTP. One that
// sends nothing, and closes or times out, is closed too, but is no refusal
// (errNothingSent).
func ProxyListener(ln net.Listener, o ProxyOptions) net.Listener {
	if o.Timeout <= 0 {
		o.Timeout = ProxyHeaderTimeout
	}
	l := &proxyListener{o: o}
	l.handoff = newHandoff(ln, l.prepare)
	return l
}

// proxyListener hands over the connections of untrusted peers as they
// are, those of trusted ones once their header is read (handoff).
type proxyListener struct {
	handoff
	o ProxyOptions
}

// prepare hands c over, once its header is read if its peer is trusted.
func (l *proxyListener) prepare(c net.Conn) {
	if !l.trusted(c.RemoteAddr()) {
		l.hand(c)
		return
	}
	// Counted from now in the whole bound, so that silent balancer
	// connections cannot outnumber it; under the client's address once
	// the header names it (ConnLimit.acquire).
	if !l.o.Conns.hold() {
		c.Close()
		return
	}
	pc := &proxiedConn{Conn: c, remote: c.RemoteAddr(), held: l.o.Conns}
	if err := pc.readHeader(l.o.Timeout); err != nil {
		select {
		case <-l.done:
			pc.Close()
			return // closed with the listener: no refusal
		default:
		}
		if errors.Is(err, errNothingSent) {
			pc.Close()
			return
		}
		reason := ProxyRefusedMalformed
		if errors.Is(err, os.ErrDeadlineExceeded) {
			reason = ProxyRefusedTimeout
		}
		if l.o.OnRefuse != nil {
			l.o.OnRefuse(reason) // counted before the client sees the close
		}
		pc.Close()
		if l.o.Logf != nil {
			l.o.Logf("server: PROXY header from %s refused (%s): %v", c.RemoteAddr(), reason, err)
		}
		return
	}
	l.hand(pc)
}

// trusted reports whether a, a peer, must send a PROXY header.
func (l *proxyListener) trusted(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && l.o.From != nil && l.o.From(ap.Addr().Unmap().WithZone(""))
}

// proxiedConn is a connection from a trusted balancer: its RemoteAddr is
// the client its PROXY header names, and its reads start with the bytes
// read past the header.
type proxiedConn struct {
	net.Conn
	remote net.Addr
	rest   []byte // read past the header, not yet returned
	// held, when not nil, is the bound whose whole count the connection
	// holds until ConnLimit.acquire takes it over (or Close gives it back).
	held  *ConnLimit
	taken atomic.Bool
}

// readHeader reads the header within timeout, and sets c's remote address
// from it.
func (c *proxiedConn) readHeader(timeout time.Duration) error {
	if err := c.Conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	// bufio reads ahead of the header: what it holds past it is the
	// request's start, kept in rest. The library takes a v1 line in one
	// read, of 107 bytes at most (a line cut short is malformed), and a v2
	// block of its declared length up to proxyproto.MaxV2HeaderSize (4 KiB;
	// a longer one is malformed).
	br := bufio.NewReaderSize(c.Conn, 256)
	if _, err := br.Peek(1); err != nil {
		return fmt.Errorf("%w: %w", errNothingSent, err)
	}
	h, err := proxyproto.Read(br)
	if err != nil {
		return err // wrapping the read's, which tells a timeout
	}
	if _, err := h.TLVs(); err != nil {
		return err
	}
	if err := c.Conn.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		c.rest = append([]byte(nil), p...)
	}
	if h.Command.IsProxy() {
		if src, ok := h.SourceAddr.(*net.TCPAddr); ok {
			c.remote = src
		}
	}
	return nil
}

// RemoteAddr returns the client the header named (the peer for LOCAL).
func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

// Read returns the bytes read past the header first.
func (c *proxiedConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the connection, giving back the place it holds in its bound
// unless acquire took it over.
func (c *proxiedConn) Close() error {
	err := c.Conn.Close()
	if c.held != nil && c.taken.CompareAndSwap(false, true) {
		c.held.open.Add(-1)
	}
	return err
}

// take reports whether c holds a place in l's whole count, which the
// caller takes over.
func (c *proxiedConn) take(l *ConnLimit) bool {
	return c.held == l && c.taken.CompareAndSwap(false, true)
}

// CloseWrite half-closes the connection, as the connection wrapped does.
func (c *proxiedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
