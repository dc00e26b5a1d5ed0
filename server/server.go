package server

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/membudget"
)

// Defaults of the Server's zero fields.
const (
	// DefaultMaxHeaderBytes bounds a request's line and header fields, as
	// http.DefaultMaxHeaderBytes does for net/http.
	DefaultMaxHeaderBytes = http.DefaultMaxHeaderBytes
	// DefaultWatchAfter is how long a request runs before its connection is
	// watched for the client leaving.
	DefaultWatchAfter = 10 * time.Millisecond
)

// Server serves HTTP/1.x on the listeners given to Serve with one goroutine
// per connection. Its fields must not change after Serve is first called.
type Server struct {
	// Handler answers every request. It must not be nil.
	Handler http.Handler

	// ReadHeaderTimeout bounds the reading of a request's line and header
	// fields, from their first byte. Zero means no bound.
	ReadHeaderTimeout time.Duration

	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection: an idle one is closed after it, and up to a 64th of it
	// (at most a second) later. Zero means ReadHeaderTimeout; both zero, no
	// bound.
	IdleTimeout time.Duration

	// WriteIdleTimeout bounds each write to the socket that no write
	// deadline of the handler's bounds (SetWriteDeadline,
	// SetWriteIdleTimeout): the end of an answer written after the handler
	// returned, an informational answer, the server's own error answers. A
	// write that cannot finish within it, give or take a 64th of it (at most
	// a second), fails and the connection closes. Without it, a client that
	// sent requests and read none of their answers held its connection for
	// ever once the socket's buffers were full: a handler's deadlines bound
	// only the writes made while they are set. Zero means no bound, as
	// net/http's Server without WriteTimeout.
	WriteIdleTimeout time.Duration

	// MaxHeaderBytes bounds the size of a request's line and header fields;
	// a request over it is answered 431. Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// WatchAfter is how long a request may run before the server starts
	// watching its connection for the client leaving, which cancels the
	// request's context. Zero means DefaultWatchAfter; a negative value
	// watches every request from its start, as net/http does. Requests that
	// end sooner never pay for the watch (a goroutine and a read).
	WatchAfter time.Duration

	// ErrorLog receives what the server cannot report otherwise: a handler's
	// panic, an accept error, a misuse of the ResponseWriter. Nil means the
	// log package's standard logger.
	ErrorLog *log.Logger

	// HeaderRoom is how many fields beyond the request's own its header map
	// is made with room for. A handler that adds fields to the request's
	// header (a proxy that forwards the request with its own fields added,
	// as package router does) then does not make the map grow, which
	// rehashes every field, on every request that has more than a few. Zero,
	// the default, makes the map for the request's fields, as net/http does.
	// It counts for the requests the server parses itself, not for those it
	// leaves to http.ReadRequest (reqparse.go: a head not yet wholly
	// buffered, percent-escapes, obs-fold, more than 64 fields, and the
	// like).
	HeaderRoom int

	// LargeHeadBytes bounds the bytes the request heads larger than a
	// connection's reader (4 KiB) may hold at once while they are read,
	// each counted at MaxHeaderBytes; a large head that finds no room is
	// answered 431 (see headbudget.go). Zero means DefaultLargeHeadBytes.
	LargeHeadBytes int64

	// Conns, when not nil, bounds the connections open at once, shared
	// with whatever else shares it (other Servers, ConnLimit.Listener): a
	// connection over it is closed as soon as it is accepted.
	Conns *ConnLimit

	// OnRefuse, when not nil, is told of each request the server answers
	// itself, refusing it before any handler sees it (a malformed or
	// oversized head, an unsupported framing or expectation), with the
	// status it answered: no handler, so no layer that logs or counts
	// requests, sees such a request. It must not block.
	OnRefuse func(status int)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	gone      chan struct{} // signalled (not closed) when a connection leaves conns
	closing   atomic.Bool
	heads     atomic.Pointer[membudget.Budget] // made at the first large head
	sweep     sweeper                          // starts the watches' reads
}

// ErrServerClosed is what Serve returns once Shutdown or Close was called.
// It is http.ErrServerClosed, so callers can treat both servers alike.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln and serves each in its own goroutine until
// ln fails or the server is shut down; it then returns ErrServerClosed (after
// Shutdown or Close) or the accept error. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors and the like: wait and try again, as
				// net/http does, from 5 ms doubling up to a second.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("server: accept error: %v; retrying in %v", err, backoff)
				time.Sleep(backoff) // deliberate: an accept error backs off
				continue
			}
			return err
		}
		backoff = 0
		lc, ok := s.Conns.acquire(rwc)
		if !ok {
			rwc.Close()
			continue
		}
		c := newConn(s, rwc, lc)
		if !s.add(c) {
			rwc.Close()
			c.release()
			continue
		}
		go c.serve()
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Shutdown stops the server gracefully: it closes the listeners, closes
// connections waiting for a request, lets the requests in flight finish
// (their answers carry "Connection: close"), and returns once every
// connection is closed, or with ctx's error when ctx ends first. Hijacked
// connections are not waited for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	for {
		s.mu.Lock()
		for c := range s.conns {
			c.closeIfIdle()
		}
		n, gone := len(s.conns), s.gone
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close closes the listeners and every connection at once, requests in
// flight included. Hijacked connections are left alone.
func (s *Server) Close() error {
	s.closing.Store(true)
	err := s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.rwc.Close()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

func (s *Server) closeListeners() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		delete(s.listeners, ln)
	}
	return errors.Join(errs...)
}

func (s *Server) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
		s.gone = make(chan struct{}, 1)
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	select {
	case s.gone <- struct{}{}:
	default:
	}
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) maxHeaderBytes() int64 {
	if s.MaxHeaderBytes > 0 {
		return int64(s.MaxHeaderBytes)
	}
	return DefaultMaxHeaderBytes
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout != 0 {
		return s.IdleTimeout
	}
	return s.ReadHeaderTimeout
}

func (s *Server) watchAfter() time.Duration {
	if s.WatchAfter != 0 {
		return s.WatchAfter
	}
	return DefaultWatchAfter
}
