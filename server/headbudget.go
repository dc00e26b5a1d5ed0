package server

import "github.com/sluicehq/sluice/internal/membudget"

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

// largeHeadBudget returns the budget of s's large heads, made at the first
// call.
func (s *Server) largeHeadBudget() *membudget.Budget {
	if b := s.heads.Load(); b != nil {
		return b
	}
	n := s.LargeHeadBytes
	if n <= 0 {
		n = DefaultLargeHeadBytes
	}
	s.heads.CompareAndSwap(nil, membudget.New(n))
	return s.heads.Load()
}

// growHead is called as the head being read outgrows the reader: it
// reserves the room the head may take, and reports false when there is
// none.
func (c *conn) growHead() bool {
	n := c.srv.maxHeaderBytes() + headerSlop
	if !c.srv.largeHeadBudget().Take(n) {
		return false
	}
	c.headHeld = n
	return true
}

// releaseHead gives back the room the head just read held, if any.
func (c *conn) releaseHead() {
	if c.headHeld > 0 {
		c.srv.largeHeadBudget().Give(c.headHeld)
		c.headHeld = 0
	}
}
