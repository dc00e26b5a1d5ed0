package server

import "sync/atomic"

// The heads being read hold memory the connection bound does not bound.
//
// A request head that fits in a connection's reader (readerSize: nearly
// every head) costs nothing more than the reader. A larger one, up to
// MaxHeaderBytes, is gathered as it comes (the raw copy framing.go keeps,
// textproto's lines), and a client that sends one slowly holds that memory
// until ReadHeaderTimeout. Many clients doing so, each within the
// connection bound (ConnLimit), held about 340 KiB a connection with heads
// of 60 KiB: the bound of connections was no bound of memory. So the large
// heads being read take their room from one budget per Server, the most
// each may grow to (MaxHeaderBytes) as soon as it outgrows the reader; a
// head that finds no room left is answered 431, as one over MaxHeaderBytes
// is. Small heads never touch it, so a flood of slow large heads costs the
// clients that send large heads, no one else.

// DefaultLargeHeadBytes is the budget of the large request heads a Server
// reads at once when its LargeHeadBytes is zero: 16 MiB, 240 heads at the
// gateway's MaxHeaderBytes of 64 KiB (each, with the copies made as it is
// parsed and the collector's slack, holds a few times its size: 16 MiB of
// budget is about 80 MiB of memory).
const DefaultLargeHeadBytes = 16 << 20

// headBudget is the room the large heads being read share.
type headBudget struct {
	max  int64
	held atomic.Int64
}

// take reserves n bytes, or reports false when the budget has not that
// much room left.
func (b *headBudget) take(n int64) bool {
	if b.held.Add(n) <= b.max {
		return true
	}
	b.held.Add(-n)
	return false
}

func (b *headBudget) give(n int64) { b.held.Add(-n) }

// largeHeadBudget returns the budget of s's large heads, made at the first
// call.
func (s *Server) largeHeadBudget() *headBudget {
	if b := s.heads.Load(); b != nil {
		return b
	}
	n := s.LargeHeadBytes
	if n <= 0 {
		n = DefaultLargeHeadBytes
	}
	s.heads.CompareAndSwap(nil, &headBudget{max: n})
	return s.heads.Load()
}

// growHead is called as the head being read outgrows the reader: it
// reserves the room the head may take, and reports false when there is
// none.
func (c *conn) growHead() bool {
	n := c.srv.maxHeaderBytes() + headerSlop
	if !c.srv.largeHeadBudget().take(n) {
		return false
	}
	c.headHeld = n
	return true
}

// releaseHead gives back the room the head just read held, if any.
func (c *conn) releaseHead() {
	if c.headHeld > 0 {
		c.srv.largeHeadBudget().give(c.headHeld)
		c.headHeld = 0
	}
}
