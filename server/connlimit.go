package server

import (
	"errors"
	"io"
	"net"
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

// Max returns the bound; 0 for a nil ConnLimit.
func (l *ConnLimit) Max() int {
	if l == nil {
		return 0
	}
	return int(l.max)
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

// acquire counts one more connection, or reports false, counting a
// refusal, when the bound is reached.
func (l *ConnLimit) acquire() bool {
	if l == nil {
		return true
	}
	if l.open.Add(1) <= l.max {
		return true
	}
	l.open.Add(-1)
	n := l.refused.Add(1)
	if now, last := time.Now().Unix(), l.logged.Load(); l.logf != nil &&
		now-last >= int64(refusalLogEvery/time.Second) && l.logged.CompareAndSwap(last, now) {
		l.logf("server: connection limit of %d reached: closing new connections at once (%d refused so far)", l.max, n)
	}
	return false
}

func (l *ConnLimit) release() {
	if l != nil {
		l.open.Add(-1)
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
		if ll.l.acquire() {
			return &limitConn{Conn: c, l: ll.l}, nil
		}
		c.Close()
	}
}

// limitConn is a connection a ConnLimit counts until it is closed.
type limitConn struct {
	net.Conn
	l        *ConnLimit
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
		c.l.release()
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
