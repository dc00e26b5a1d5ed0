package server

import (
	"errors"
	"net"
	"sync"
	"time"
)

// WriteIdle returns a listener whose connections bound each write that no
// write deadline bounds by about d from its start (give or take a 64th of
// d, at most a second), as Server.WriteIdleTimeout does on this package's
// server; a d of zero or less returns ln. It is for net/http's Server,
// whose WriteTimeout bounds all of an answer from the request's arrival,
// not a write: set to what a stalled write may take, it would fail the
// answer of any request that ran longer. Without a bound, a client that
// sent requests and read none of their answers held its connection for
// ever once the socket's buffers were full. Put it under NetHTTP or
// NetHTTPTLS (their listener argument).
func WriteIdle(ln net.Listener, d time.Duration) net.Listener {
	if d <= 0 {
		return ln
	}
	return writeIdleListener{Listener: ln, idle: d}
}

type writeIdleListener struct {
	net.Listener
	idle time.Duration
}

func (l writeIdleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writeIdleConn{Conn: c, idle: l.idle}, nil
}

// writeIdleConn is a connection whose writes fall back to a deadline of
// idle from their start while no write deadline is set.
type writeIdleConn struct {
	net.Conn
	idle time.Duration

	mu  sync.Mutex
	own bool      // a write deadline set by the connection's user is on
	set time.Time // the fallback deadline on the socket, when !own
}

func (c *writeIdleConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.own {
		due := time.Now().Add(c.idle)
		grain := idleGrain(c.idle)
		if !within(c.set, due.Add(-grain), due.Add(grain)) {
			due = due.Add(grain)
			if err := c.Conn.SetWriteDeadline(due); err != nil {
				c.mu.Unlock()
				return 0, err
			}
			c.set = due
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// SetWriteDeadline sets t; a zero t gives the writes back to the fallback.
func (c *writeIdleConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.own, c.set = !t.IsZero(), time.Time{}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets t for reads and writes, as SetWriteDeadline for writes.
func (c *writeIdleConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.own, c.set = !t.IsZero(), time.Time{}
	return c.Conn.SetDeadline(t)
}

// CloseWrite half-closes the connection, which net/http does before it
// closes after an error answer.
func (c *writeIdleConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
