package server

import (
	"net"
	"sync"
)

// A listener that must do something with each connection before a server
// may have it (a TLS handshake: NetHTTPTLS; a PROXY header: ProxyListener)
// must not do it in its accept loop, where one slow client would hold
// every other. handoff is what such listeners share: their accept loop,
// which gives each connection to a goroutine of its own, the connections
// being prepared, closed with the listener, and the hand-over to Accept.
type handoff struct {
	net.Listener
	// prepare readies c in a goroutine of its own and hands it over
	// (hand), or closes it; c is tracked until it returns.
	prepare func(c net.Conn)

	start     sync.Once
	conns     chan acceptResult
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections being prepared
	closed  bool
}

type acceptResult struct {
	c   net.Conn
	err error
}

// newHandoff returns the handoff of ln, with prepare.
func newHandoff(ln net.Listener, prepare func(net.Conn)) handoff {
	return handoff{Listener: ln, prepare: prepare, conns: make(chan acceptResult), done: make(chan struct{})}
}

// Accept returns the next connection prepared.
func (h *handoff) Accept() (net.Conn, error) {
	h.start.Do(func() { go h.acceptLoop() })
	select {
	case r := <-h.conns:
		return r.c, r.err
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; the connections being prepared are closed.
func (h *handoff) Close() error {
	h.closeOnce.Do(func() {
		close(h.done)
		h.mu.Lock()
		h.closed = true
		for c := range h.pending {
			c.Close()
		}
		h.mu.Unlock()
	})
	return h.Listener.Close()
}

func (h *handoff) acceptLoop() {
	for {
		c, err := h.Listener.Accept()
		if err != nil {
			select {
			case h.conns <- acceptResult{err: err}:
			case <-h.done:
				return
			}
			if !isTemporary(err) {
				return
			}
			// A transient failure, which the server's Serve backs off
			// from before it accepts again.
			continue
		}
		go h.prepared(c)
	}
}

// prepared runs prepare on c, tracked.
func (h *handoff) prepared(c net.Conn) {
	if !h.track(c) {
		return
	}
	defer h.untrack(c)
	h.prepare(c)
}

// hand gives c, prepared, to Accept, or closes it once the listener is
// closed.
func (h *handoff) hand(c net.Conn) {
	select {
	case h.conns <- acceptResult{c: c}:
	case <-h.done:
		c.Close()
	}
}

// track records c as being prepared, or closes it and returns false when
// the listener is closed.
func (h *handoff) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.Close()
		return false
	}
	if h.pending == nil {
		h.pending = make(map[net.Conn]struct{})
	}
	h.pending[c] = struct{}{}
	return true
}

func (h *handoff) untrack(c net.Conn) {
	h.mu.Lock()
	delete(h.pending, c)
	h.mu.Unlock()
}
