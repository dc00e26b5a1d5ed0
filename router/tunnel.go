package router

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// A tunnel joins a client's connection, switched to another protocol, to
// the backend's: bytes are copied each way as they come, and a direction
// that ends (EOF) is half-closed on the other side, so either peer can
// finish sending and still read. The unary budget, which bounded the
// handshake, does not bound the tunnel: an idle timeout (no byte either
// way) and a maximum lifetime do (on a stream route, the stream's when they
// are shorter: tunnelLimits). When the tunnel ends for one of these, or
// because the gateway shuts down, both peers of a WebSocket are sent a close
// frame with code 1001 (going away) before their connections are closed:
// the client an unmasked one, as from a server, the backend a masked one,
// as from a client (RFC 6455, section 5.3), so that the node's WebSocket
// library sees the end of the conversation as "going away" rather than a
// broken connection. Each close frame is written between two writes of the
// other peer's bytes: should that peer have been cut in the middle of one
// of its frames, the receiver sees a broken frame instead, as it would on
// any cut connection.

// DefaultUpgradeIdleTimeout and DefaultUpgradeMaxLifetime bound a tunnel
// when Options leaves them zero.
const (
	DefaultUpgradeIdleTimeout = 5 * time.Minute
	DefaultUpgradeMaxLifetime = 24 * time.Hour
)

// closeGrace bounds how long an ending tunnel waits for the client to close
// its side after the close frame.
const closeGrace = 2 * time.Second

// tunnelLimits bound one tunnel.
type tunnelLimits struct{ idle, life time.Duration }

func (o *Options) upgradeLimits() tunnelLimits {
	l := tunnelLimits{idle: o.UpgradeIdleTimeout, life: o.UpgradeMaxLifetime}
	if l.idle <= 0 {
		l.idle = DefaultUpgradeIdleTimeout
	}
	if l.life <= 0 {
		l.life = DefaultUpgradeMaxLifetime
	}
	return l
}

// tunnelLimits returns the bounds of a tunnel whose handshake went under
// ctx: the limits' (upgradeLimits), and on a stream route its stream's as
// well, whichever is shorter. A stream route's bounds are the route's
// word on how long anything through it lasts, and its maximum lifetime is
// what the backend was told in the handshake's Sluice-Budget: a WebSocket
// on a route of stream {idle_timeout: 1s, max_lifetime: 2s} lived for the
// limits' 5 minutes idle and 24 hours busy, past the budget its node was
// given.
func (h *routeHandler) tunnelLimits(ctx context.Context) tunnelLimits {
	l := h.opts.upgradeLimits()
	if h.route.Stream == nil {
		return l
	}
	l.idle = min(l.idle, h.route.Stream.WithDefaults().IdleTimeout)
	if d, ok := ctx.Deadline(); ok { // the stream's maximum lifetime
		l.life = min(l.life, time.Until(d))
	}
	return l
}

// tunnel is one switched connection.
type tunnel struct {
	client  net.Conn
	backend io.ReadWriteCloser
	ws      bool          // the protocol is WebSocket: it ends with a close frame
	wIdle   time.Duration // bounds each write to the client

	last    atomic.Int64 // unix nanoseconds of the last byte either way
	ending  atomic.Bool  // end has begun: the client's bytes are discarded
	over    atomic.Bool  // run has returned: timers have nothing to do
	place   tunnelPlace  // the place of its Tunnels it holds (tunnelbound.go)
	wmu     sync.Mutex   // one write at a time to the client
	bmu     sync.Mutex   // one write at a time to the backend
	endOnce sync.Once
}

func newTunnel(client net.Conn, backend io.ReadWriteCloser, proto string, writeIdle time.Duration) *tunnel {
	t := &tunnel{client: client, backend: backend, ws: equalFold(proto, "websocket"), wIdle: writeIdle}
	t.last.Store(time.Now().UnixNano())
	return t
}

func equalFold(a, b string) bool { return len(a) == len(b) && hasToken([]string{a}, b) }

// abort closes both connections at once.
func (t *tunnel) abort() {
	t.client.Close()
	t.backend.Close()
}

// end closes the tunnel gracefully. Other than a WebSocket, both
// connections are closed at once. A WebSocket's peers each get a close
// frame with code 1001 and a little time (closeGrace) to close their side:
// what they send meanwhile is read and dropped. It may be called more than
// once and from any goroutine; it returns once both close frames are
// written (or could not be), within about 2 × closeGrace.
func (t *tunnel) end() {
	t.endOnce.Do(func() {
		t.ending.Store(true)
		if !t.ws {
			t.backend.Close()
			t.client.Close()
			return
		}
		t.endBackend()
		// A write of the backend's bytes blocked on a client that does not
		// read gives up by this deadline, and lets the close frame go.
		_ = t.client.SetWriteDeadline(time.Now().Add(closeGrace))
		t.wmu.Lock()
		_, err := t.client.Write(goingAway[:])
		t.wmu.Unlock()
		if err != nil {
			t.client.Close()
			return
		}
		closeWrite(t.client)
		_ = t.client.SetReadDeadline(time.Now().Add(closeGrace))
	})
}

// endBackend sends the backend a masked close frame with code 1001 and
// half-closes its connection; the connection is closed closeGrace later
// whatever the backend does, which also ends a write blocked on a backend
// that does not read.
func (t *tunnel) endBackend() {
	cut := time.AfterFunc(closeGrace, func() { t.backend.Close() })
	frame := maskedGoingAway()
	t.bmu.Lock()
	_, err := t.backend.Write(frame[:])
	t.bmu.Unlock()
	if err != nil {
		cut.Stop()
		t.backend.Close()
		return
	}
	closeWrite(t.backend)
}

// goingAway is a WebSocket close frame from a server (unmasked) with code
// 1001: FIN and opcode 8, a payload of 2 bytes, the code big-endian.
var goingAway = [4]byte{0x88, 0x02, 0x03, 0xE9}

// maskedGoingAway returns the close frame with code 1001 as a client sends
// it: the mask bit set, a fresh masking key, the payload masked by it.
func maskedGoingAway() [8]byte {
	var f [8]byte
	f[0], f[1] = 0x88, 0x80|0x02
	binary.LittleEndian.PutUint32(f[2:6], rand.Uint32())
	f[6], f[7] = goingAway[2]^f[2], goingAway[3]^f[3]
	return f
}

// closeWrite half-closes c when it can, and closes it when it cannot.
func closeWrite(c any) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
}

// run copies both ways until both directions have ended, early being what
// the client sent after its handshake. It returns when the tunnel is over
// and both connections are closed, and no longer tracked in reg, where
// register put it; open is what register reported.
func (t *tunnel) run(early []byte, lim tunnelLimits, reg *Tunnels, open bool) {
	defer t.unregister(reg)
	if !open {
		t.end() // the gateway is shutting down
	}
	life := time.AfterFunc(lim.life, t.end)
	defer life.Stop()
	idle := t.watchIdle(lim.idle)
	defer idle.Stop()

	var wg sync.WaitGroup
	wg.Go(func() { t.toBackend(early) })
	wg.Go(t.toClient)
	wg.Wait()
	t.over.Store(true)
	t.abort()
}

// watchIdle ends the tunnel once no byte has gone either way for idle.
func (t *tunnel) watchIdle(idle time.Duration) *time.Timer {
	var tm *time.Timer
	var mu sync.Mutex
	check := func() {
		if t.over.Load() {
			return
		}
		since := time.Since(time.Unix(0, t.last.Load()))
		if since >= idle {
			t.end()
			return
		}
		mu.Lock()
		tm.Reset(idle - since)
		mu.Unlock()
	}
	mu.Lock()
	tm = time.AfterFunc(idle, check)
	mu.Unlock()
	return tm
}

// toBackend copies the client's bytes to the backend; at the client's EOF
// it half-closes the backend's side. Once the tunnel is ending it reads and
// discards until the client closes or the grace ends.
func (t *tunnel) toBackend(early []byte) {
	if len(early) > 0 {
		t.bmu.Lock()
		var err error
		if !t.ending.Load() {
			_, err = t.backend.Write(early)
		}
		t.bmu.Unlock()
		if err != nil {
			t.abort()
			return
		}
	}
	var buf copyBuf
	defer buf.release()
	for {
		n, err := t.client.Read(buf.get())
		buf.read(n)
		if n > 0 {
			t.last.Store(time.Now().UnixNano())
			t.bmu.Lock()
			var werr error
			if !t.ending.Load() {
				_, werr = t.backend.Write(buf.last[:n])
			}
			t.bmu.Unlock()
			if werr != nil && !t.ending.Load() {
				t.abort()
				return
			}
		}
		if errors.Is(err, io.EOF) && !t.ending.Load() {
			closeWrite(t.backend)
			return
		}
		if err != nil {
			if !t.ending.Load() {
				t.abort()
			}
			return
		}
	}
}

// toClient copies the backend's bytes to the client, each write bounded by
// the write idle timeout; at the backend's EOF it half-closes the client's
// side. Once the tunnel is ending it reads and discards until the backend
// closes or the grace ends.
func (t *tunnel) toClient() {
	var buf copyBuf
	defer buf.release()
	for {
		n, err := t.backend.Read(buf.get())
		buf.read(n)
		if n > 0 {
			t.last.Store(time.Now().UnixNano())
			t.wmu.Lock()
			if t.ending.Load() {
				t.wmu.Unlock()
				if err != nil {
					return
				}
				continue
			}
			_ = t.client.SetWriteDeadline(time.Now().Add(t.wIdle))
			_, werr := t.client.Write(buf.last[:n])
			t.wmu.Unlock()
			if werr != nil {
				if !t.ending.Load() {
					t.abort()
				}
				return
			}
		}
		if errors.Is(err, io.EOF) && !t.ending.Load() {
			closeWrite(t.client)
			return
		}
		if err != nil {
			if !t.ending.Load() {
				t.abort()
			}
			return
		}
	}
}

// Tunnels tracks the tunnels of every router it is given to, so that the
// gateway can end them when it shuts down: net/http's server and the lean
// server both forget a connection once it is hijacked, and their Shutdown
// does not wait for it. One Tunnels lives for the whole process, across
// reloads. The zero value is not usable; use NewTunnels. It is safe for
// concurrent use.
type Tunnels struct {
	mu     sync.Mutex
	open   map[*tunnel]struct{}
	closed bool
	gone   chan struct{} // closed when the last tunnel is gone after CloseAll
	max    int           // the most places at once (SetMax), ≤ 0: no bound
	places int           // taken: tunnels and handshakes under way (tunnelbound.go)
	// The bound of each client address (SetMaxPerAddress): perAddr places
	// at most for each key's address; byAddr holds no zero.
	perAddr int
	key     func(*http.Request) (netip.Prefix, bool)
	byAddr  map[netip.Prefix]int
}

// NewTunnels returns an empty set of tunnels.
func NewTunnels() *Tunnels { return &Tunnels{open: make(map[*tunnel]struct{})} }

// register tracks t in reg, when not nil, and reports whether the gateway
// is not shutting down (reg's CloseAll not called). It must be followed by
// unregister.
func (t *tunnel) register(reg *Tunnels) bool { return reg == nil || reg.add(t) }

// unregister stops tracking t in reg, when not nil.
func (t *tunnel) unregister(reg *Tunnels) {
	if reg != nil {
		reg.remove(t)
	}
}

// Len returns the number of open tunnels.
func (ts *Tunnels) Len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.open)
}

func (ts *Tunnels) add(t *tunnel) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.open[t] = struct{}{}
	return !ts.closed
}

func (ts *Tunnels) remove(t *tunnel) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.open, t)
	ts.free(t.place) // with its tracking, so that Len tells the places free
	if ts.closed && len(ts.open) == 0 && ts.gone != nil {
		close(ts.gone)
		ts.gone = nil
	}
}

// CloseAll ends every open tunnel and every one opened later: WebSocket
// clients get a close frame with code 1001 (going away). It waits until the
// tunnels are gone or ctx ends, and returns ctx's error in the latter case.
func (ts *Tunnels) CloseAll(ctx context.Context) error {
	ts.mu.Lock()
	ts.closed = true
	open := make([]*tunnel, 0, len(ts.open))
	for t := range ts.open {
		open = append(open, t)
	}
	var gone chan struct{}
	if len(ts.open) > 0 {
		if ts.gone == nil {
			ts.gone = make(chan struct{})
		}
		gone = ts.gone
	}
	ts.mu.Unlock()
	for _, t := range open {
		go t.end() // each may wait on its peers for a while
	}
	if gone == nil {
		return nil
	}
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
