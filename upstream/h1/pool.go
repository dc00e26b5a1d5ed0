package h1

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// errPoolGone tells get that CloseHost removed the pool: look it up again.
var errPoolGone = errors.New("h1: pool removed")

// hostPool holds the connections to one host:port.
type hostPool struct {
	t    *Transport
	key  string // req.URL.Host
	addr string // key with its port

	mu      sync.Mutex
	idle    []*conn   // oldest first; taken from the end
	total   int       // busy, idle and being dialled
	waiters []*waiter // FIFO; non-empty only when idle is empty
	gen     uint64    // bumped by CloseHost: older conns are not pooled
	timer   *time.Timer
	armed   bool       // timer is set to evict the oldest idle conn
	dead    bool       // removed from the Transport by CloseHost
	early   earlyClose // the server's closes of idle conns (idle.go)
}

// waiter waits for a connection when the pool is full. It receives a conn
// to reuse, or nil: a slot to dial with.
type waiter struct{ ch chan *conn }

// pool returns the pool of host, making it on first use.
func (t *Transport) pool(host string) *hostPool {
	if m := t.hosts.Load(); m != nil {
		if p := (*m)[host]; p != nil {
			return p
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.hosts.Load()
	if old != nil && (*old)[host] != nil {
		return (*old)[host]
	}
	p := &hostPool{t: t, key: host, addr: hostPort(host)}
	m := make(map[string]*hostPool, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[host] = p
	t.hosts.Store(&m)
	return p
}

func lenOf(m *map[string]*hostPool) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// hostPort returns host with ":80" when it has no port.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	h := host
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return net.JoinHostPort(h, "80")
}

// get returns a connection: the newest idle one unless fresh, else a new
// one when the pool has room, else the first to be released. A conn that
// carried a request before (idle, or handed over by put) is checked first
// and closed instead if it received any byte or its end while idle: see
// probe. An Exchanger is handed out unchecked: its round trip checks it,
// right before the request is sent (see exchange.go). An idle conn is
// taken only if it has been idle for less than its server's idle time
// allows, and less than fragileIdle for a fragile request, one that could
// not be sent again (see idle.go). now, when not zero, is a reading of
// time.Now just taken (see Transport.clockAt): the idle conns are evicted
// at it.
func (p *hostPool) get(ctx context.Context, try time.Time, fresh, fragile bool, now time.Time) (*conn, error) {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return nil, errPoolGone
	}
	var at time.Time
	if len(p.idle) > 0 {
		at = p.t.clockAt(now)
		p.evictLocked(at)
	}
	for !fresh && len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		idle := at.Sub(c.idleSince)
		stale := idle >= keepMargin(c.keepFor) // its server is about to close it
		if !stale && fragile && idle >= p.early.fragileLimit(at) {
			// Too old for this request, not for others; the older
			// ones are older still.
			fresh = true
			break
		}
		p.popIdleLocked(len(p.idle) - 1)
		p.mu.Unlock()
		if !stale && (c.ex != nil || c.probe.ok()) {
			c.reused = true
			return c, nil
		}
		c.close()
		p.mu.Lock()
		if !stale {
			p.early.note(idle, at) // its server closed it (or spoke) while idle
		}
		p.freeSlotLocked()
	}
	// What follows may block: it ends at try too.
	if !try.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, try)
		defer cancel()
	}
	if fresh && p.total >= p.t.maxConns() && len(p.idle) > 0 {
		p.popIdleLocked(0).close() // its slot is ours
		return p.dial(ctx, p.gen)
	}
	if p.total < p.t.maxConns() {
		p.total++
		return p.dial(ctx, p.gen)
	}
	c, err := p.waitLocked(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil || fresh || c.ex == nil && !c.probe.ok() {
		p.mu.Lock()
		if c != nil {
			c.close()
		}
		return p.dial(ctx, p.gen) // with the slot of c
	}
	c.reused = true
	return c, nil
}

// waitLocked queues for the first conn released, called with p.mu held
// when the pool is full; it releases p.mu. It returns a conn handed over,
// or nil for a freed slot, which the caller then holds either way.
func (p *hostPool) waitLocked(ctx context.Context) (*conn, error) {
	w := &waiter{ch: make(chan *conn, 1)}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case c := <-w.ch:
		return c, nil
	case <-ctx.Done():
		p.mu.Lock()
		for i, x := range p.waiters {
			if x == w {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				return nil, fmt.Errorf("h1: waiting for a connection to %s: %w", p.addr, ctx.Err())
			}
		}
		p.mu.Unlock()
		if c := <-w.ch; c != nil { // handed over meanwhile: pass it on
			p.put(c, true)
		} else {
			p.mu.Lock()
			p.freeSlotLocked()
			p.mu.Unlock()
		}
		return nil, fmt.Errorf("h1: waiting for a connection to %s: %w", p.addr, ctx.Err())
	}
}

// acquire takes a slot of the host's limit for a connection that the
// default Fallback dials (see sharedDial): a free one, else that of the
// oldest idle conn, which is closed, else the first one released. release
// gives it back.
func (p *hostPool) acquire(ctx context.Context) error {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return errPoolGone
	}
	if p.total < p.t.maxConns() {
		p.total++
		p.mu.Unlock()
		return nil
	}
	if len(p.idle) > 0 {
		c := p.popIdleLocked(0) // its slot is ours
		p.mu.Unlock()
		c.close()
		return nil
	}
	c, err := p.waitLocked(ctx)
	if c != nil {
		c.close() // its slot is ours
	}
	return err
}

// release frees a slot taken by acquire.
func (p *hostPool) release() {
	p.mu.Lock()
	p.freeSlotLocked()
	p.mu.Unlock()
}

// dial dials a conn for a slot already counted in total. It is called with
// p.mu held, and releases it.
func (p *hostPool) dial(ctx context.Context, gen uint64) (*conn, error) {
	p.mu.Unlock()
	nc, err := p.t.dial(ctx, p.addr)
	if err != nil {
		p.mu.Lock()
		p.freeSlotLocked()
		p.mu.Unlock()
		return nil, fmt.Errorf("h1: dial %s: %w", p.addr, err)
	}
	return newConn(p, nc, gen), nil
}

// put gives back a conn whose request is done: to a waiter or the idle
// list if reuse, else it is closed and its slot freed. A detached conn
// (Detach) takes a slot again to be reused, if one is free.
func (p *hostPool) put(c *conn, reuse bool) {
	p.mu.Lock()
	if c.detached {
		if !reuse || len(p.waiters) > 0 || p.total >= p.t.maxConns() || c.gen != p.gen || p.dead {
			p.mu.Unlock()
			c.close() // it holds no slot to free
			return
		}
		c.detached = false
		p.total++
	}
	if reuse && c.gen == p.gen && !p.dead {
		if len(p.waiters) > 0 {
			w := p.popWaiterLocked()
			c.idleSince = p.t.clock() // idle from now, however briefly: see serverClosed
			p.mu.Unlock()
			w.ch <- c
			return
		}
		if len(p.idle) < p.t.maxIdle() {
			c.idleSince = p.t.clock()
			p.idle = append(p.idle, c)
			if !p.armed {
				p.armLocked(c.idleSince)
			}
			p.mu.Unlock()
			return
		}
	}
	p.freeSlotLocked()
	p.mu.Unlock()
	c.close()
}

// detach gives back the slot of c, a busy conn whose answer is a stream
// (Detach): c stays open, out of the count, until put.
func (p *hostPool) detach(c *conn) {
	p.mu.Lock()
	if !c.detached {
		c.detached = true
		p.freeSlotLocked()
	}
	p.mu.Unlock()
}

// freeSlotLocked gives the slot of a closed conn to the first waiter, or
// frees it.
func (p *hostPool) freeSlotLocked() {
	if len(p.waiters) > 0 {
		p.popWaiterLocked().ch <- nil // buffered
		return
	}
	p.total--
}

func (p *hostPool) popWaiterLocked() *waiter {
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	if len(p.waiters) == 0 {
		p.waiters = nil // let the backing array go
	}
	return w
}

// popIdleLocked removes idle conn i from the list; the conn keeps its slot.
func (p *hostPool) popIdleLocked(i int) *conn {
	c := p.idle[i]
	copy(p.idle[i:], p.idle[i+1:])
	p.idle[len(p.idle)-1] = nil
	p.idle = p.idle[:len(p.idle)-1]
	return c
}

// evictLocked closes the conns idle for IdleTimeout or longer at now.
func (p *hostPool) evictLocked(now time.Time) {
	timeout := p.t.idleTimeout()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= timeout {
		p.idle[n].close()
		p.freeSlotLocked()
		n++
	}
	if n > 0 {
		m := copy(p.idle, p.idle[n:])
		clear(p.idle[m:])
		p.idle = p.idle[:m]
	}
}

// armLocked sets the pool's one timer to evict the oldest idle conn.
func (p *hostPool) armLocked(now time.Time) {
	d := p.idle[0].idleSince.Add(p.t.idleTimeout()).Sub(now)
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.onTimer)
	} else {
		p.timer.Reset(d)
	}
	p.armed = true
}

func (p *hostPool) onTimer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	now := p.t.clock()
	p.evictLocked(now)
	if len(p.idle) > 0 {
		p.armLocked(now)
	}
}

// closeIdle closes the idle conns; with forget, the busy ones too as they
// are released, and the pool leaves the Transport once empty.
func (p *hostPool) closeIdle(forget bool) (empty bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.close()
		p.total-- // no waiters while conns are idle
	}
	clear(p.idle)
	p.idle = p.idle[:0]
	if forget {
		p.gen++
		if p.total == 0 && len(p.waiters) == 0 {
			p.dead = true
			if p.timer != nil {
				p.timer.Stop()
			}
		}
	}
	return p.dead
}

// serverClosed records that c, a reused conn, was found closed by its
// server (its check before the request found it closed or not quiet, or a
// request sent on it failed before any answer): see earlyClose.
func (p *hostPool) serverClosed(c *conn) {
	p.mu.Lock()
	now := p.t.clock()
	p.early.note(now.Sub(c.idleSince), now)
	p.mu.Unlock()
}
