package server

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimit bounds the client connections open at once on the listeners
// that share it, as nginx's worker_connections and Envoy's downstream
// connection limits do. Each connection holds a file descriptor: without a
// bound, one client opening connections until the process has no
// descriptor left stops every accept (the admin listener's too) and makes
// the dials to the nodes fail, which a client caused. A connection over
// the bound is closed as soon as it is accepted, so its client learns at
// once, and the connections already open are served as before.
//
// A nil *ConnLimit bounds nothing. Its methods are safe for concurrent use.
type ConnLimit struct {
	max     int64
	open    atomic.Int64
	refused atomic.Uint64
	// logged is when a refusal was last logged, in Unix seconds.
	logged atomic.Int64
	logf   func(format string, args ...any)

	// The bound of each client address (PerAddress).
	perAddr int
	exempt  func(netip.Addr) bool
	mu      sync.Mutex
	byAddr  map[netip.Prefix]int // connections open per address; none at zero
}

// refusalLogEvery is how often, at most, a ConnLimit logs that it refuses
// connections: a flood must not flood the log too.
const refusalLogEvery = 10 * time.Second

// NewConnLimit returns a bound of max connections open at once, or nil
// (no bound) when max is not positive. logf, when not nil, is told when
// connections are refused, at most once per 10 seconds.
func NewConnLimit(max int, logf func(format string, args ...any)) *ConnLimit {
	if max <= 0 {
		return nil
	}
	return &ConnLimit{max: int64(max), logf: logf}
}

// PerAddress bounds the connections of each client address to n as well
// (an IPv6 address by its /64, which one client holds whole), so that one
// address cannot take every place and shut the others out: a connection
// over it is closed at once too. The addresses exempt reports true of (the
// load balancers in front, whose connections carry every client's) are
// bound by the whole only. n of zero or less bounds no address. It must be
// called before the ConnLimit is used, and returns l.
func (l *ConnLimit) PerAddress(n int, exempt func(netip.Addr) bool) *ConnLimit {
	if l != nil && n > 0 {
		l.perAddr, l.exempt, l.byAddr = n, exempt, make(map[netip.Prefix]int)
	}
	return l
}

// Max returns the bound; 0 for a nil ConnLimit.
func (l *ConnLimit) Max() int {
	if l == nil {
		return 0
	}
	return int(l.max)
}

// MaxPerAddress returns the bound of each client address (PerAddress); 0
// for none.
func (l *ConnLimit) MaxPerAddress() int {
	if l == nil {
		return 0
	}
	return l.perAddr
}

// Open returns how many connections the bound counts now.
func (l *ConnLimit) Open() int {
	if l == nil {
		return 0
	}
	return int(l.open.Load())
}

// Refused returns how many connections were closed for being over the
// bound.
func (l *ConnLimit) Refused() uint64 {
	if l == nil {
		return 0
	}
	return l.refused.Load()
}

// acquire counts c, a connection just accepted (or whose PROXY header was
// just read), and returns it wrapped to
// give its place back when it closes, or reports false, counting a
// refusal, when the bound, or its address's, is reached. A nil ConnLimit
// takes every connection, unwrapped (nil).
func (l *ConnLimit) acquire(c net.Conn) (*limitConn, bool) {
	if l == nil {
		return nil, true
	}
	// A connection whose PROXY header was read (ProxyListener) was
	// counted in the whole bound at its accept: only its client's address
	// is counted now.
	if pc, ok := c.(*proxiedConn); !ok || !pc.take(l) {
		if !l.hold() {
			return nil, false
		}
	}
	key, ok := l.addrKey(c.RemoteAddr())
	if ok {
		l.mu.Lock()
		n := l.byAddr[key]
		if n >= l.perAddr {
			l.mu.Unlock()
			l.open.Add(-1)
			l.refuse("connection limit of %d per client address reached by %s", l.perAddr, key)
			return nil, false
		}
		l.byAddr[key] = n + 1
		l.mu.Unlock()
	}
	return &limitConn{Conn: c, l: l, key: key, keyed: ok}, true
}

// hold counts a connection in the whole bound, or reports false,
// counting a refusal, when the bound is reached. A nil ConnLimit holds
// every connection.
func (l *ConnLimit) hold() bool {
	if l == nil {
		return true
	}
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		l.refuse("connection limit of %d reached", l.max)
		return false
	}
	return true
}

// addrKey returns the key of the address a under the per-address bound,
// and false when that bound does not apply to it.
func (l *ConnLimit) addrKey(a net.Addr) (netip.Prefix, bool) {
	if l.perAddr <= 0 {
		return netip.Prefix{}, false
	}
	return ClientKey(a.String(), l.exempt)
}

// ClientKey returns the key a client whose connection's peer is remote
// (host:port, as net.Addr.String and http.Request.RemoteAddr write it)
// counts under in a per-address bound: its IPv4 address, or its IPv6
// address's /64, which one client holds whole; an IPv4-mapped address as
// the IPv4 one. It reports false, for no key, when remote does not parse
// or exempt (when not nil) reports true of the address: the load balancers
// in front, whose connections carry every client's. The gateway's bound of
// switched connections keys a request's client address as it keys a peer
// (AddrKey), so that an address has one share of each.
func ClientKey(remote string, exempt func(netip.Addr) bool) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap().WithZone("")
	if exempt != nil && exempt(ip) {
		return netip.Prefix{}, false
	}
	return AddrKey(ip), true
}

// AddrKey returns the key the client address a counts under in a
// per-address bound, as ClientKey keys a peer: a as an IPv4 address
// (unmapped), or its IPv6 address's /64.
func AddrKey(a netip.Addr) netip.Prefix {
	ip := a.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// refuse counts a refusal and logs it, at most every refusalLogEvery.
func (l *ConnLimit) refuse(format string, args ...any) {
	n := l.refused.Add(1)
	if now, last := time.Now().Unix(), l.logged.Load(); l.logf != nil &&
		now-last >= int64(refusalLogEvery/time.Second) && l.logged.CompareAndSwap(last, now) {
		l.logf("server: "+format+": closing new connections at once (%d refused so far)", append(args, n)...)
	}
}

// release gives back the place of a connection counted under key (when
// keyed).
func (l *ConnLimit) release(key netip.Prefix, keyed bool) {
	l.open.Add(-1)
	if keyed {
		l.mu.Lock()
		if n := l.byAddr[key] - 1; n > 0 {
			l.byAddr[key] = n
		} else {
			delete(l.byAddr, key)
		}
		l.mu.Unlock()
	}
}

// Listener returns ln bounded by l: a connection accepted over the bound
// is closed at once, and the connections it returns count until closed.
// For servers other than this package's (net/http's); a Server takes the
// bound in its Conns field, which keeps its faster socket I/O.
func (l *ConnLimit) Listener(ln net.Listener) net.Listener {
	if l == nil {
		return ln
	}
	return &limitListener{Listener: ln, l: l}
}

type limitListener struct {
	net.Listener
	l *ConnLimit
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc, ok := ll.l.acquire(c); ok {
			return lc, nil
		}
		c.Close()
	}
}

// limitConn is a connection a ConnLimit counts until it is closed.
type limitConn struct {
	net.Conn
	l        *ConnLimit
	key      netip.Prefix // its address's, under the per-address bound
	keyed    bool         // the per-address bound counts it
	released atomic.Bool
}

// Close closes the connection and releases its place, once.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

func (c *limitConn) release() {
	if c.released.CompareAndSwap(false, true) {
		c.l.release(c.key, c.keyed)
	}
}

// CloseWrite half-closes the connection, as the connection wrapped does.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// ReadFrom keeps the wrapped connection's own ReadFrom (sendfile, splice).
func (c *limitConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }
