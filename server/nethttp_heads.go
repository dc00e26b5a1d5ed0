package server

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/membudget"
)

// The large heads net/http reads share a budget, as this package's own
// Server's do (headbudget.go).
//
// net/http gathers a request head into strings as it comes, up to
// MaxHeaderBytes, and a client that sends a large one slowly holds that
// memory until ReadHeaderTimeout: a slow 60 KiB head held about 160 KiB of
// a TLS listener's memory, and the connection bound (ConnLimit) let one
// address hold thousands. net/http has no hook inside its head parsing, so
// NetHTTP's connection counts the bytes net/http reads from it while a head
// is being read: from the connection's start, or from its return to idle
// (http.StateNew, http.StateIdle), to the head's end (http.StateActive,
// which net/http sets once the head is parsed). Past the 4 KiB a head
// reads into net/http's buffered reader, the head takes its bound
// (MaxHeaderBytes plus net/http's 4 KiB of slack) from the listener's
// budget until it ends; with no room left, the read fails, and the error
// answer net/http then writes (400) goes out as 431, as for a head over
// MaxHeaderBytes. A connection that opens with HTTP/2's preface (h2c with
// prior knowledge) reads frames, not heads: its header blocks are followed
// instead (nethttp_h2blocks.go), and so are those NetHTTPTLS serves as
// with prior knowledge.

// errHeadBudget is what a read fails with when a large head finds no room
// in the budget. net/http answers it 400, which problemConn writes as 431.
var errHeadBudget = errors.New("server: the large request heads being read fill their budget")

// h2Preface is how an HTTP/2 connection with prior knowledge opens.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// netHTTPHeads is the budget a NetHTTP listener's large heads share, with
// the room each takes.
type netHTTPHeads struct {
	budget  *membudget.Budget
	each    int64         // MaxHeaderBytes plus net/http's slack
	timeout time.Duration // an HTTP/2 header block's, as net/http's for a head; zero: none
}

func newNetHTTPHeads(hs *http.Server) *netHTTPHeads {
	limit := hs.MaxHeaderBytes
	if limit <= 0 {
		limit = http.DefaultMaxHeaderBytes
	}
	timeout := hs.ReadHeaderTimeout
	if timeout <= 0 {
		timeout = hs.ReadTimeout
	}
	return &netHTTPHeads{budget: membudget.New(DefaultLargeHeadBytes), each: int64(limit) + headerSlop,
		timeout: max(timeout, 0)}
}

// headCount is a problemConn's record of the head being read. Its fields
// are written by the goroutine net/http serves the connection on (its
// reads of heads, and the ConnState hook), before it starts any other
// goroutine that reads the connection (the background read of a request
// being served, HTTP/2's frame reader); held and closed, with which the
// hook of a closed connection or its Close gives the room back, are atomic.
type headCount struct {
	heads   *netHTTPHeads // nil: not counted
	resting bool          // between a head's end and the next head's start
	read    int64         // bytes read of the head so far
	prefix  [len(h2Preface)]byte
	nprefix int      // bytes of prefix seen
	h2      bool     // the connection opened with HTTP/2's preface
	blocks  h2Blocks // its header blocks, once h2 (nethttp_h2blocks.go)
	refused bool     // a head found no room: net/http's error answer is a 431
	held    atomic.Int64
	closed  atomic.Bool
}

// beforeRead is called before each read of n bytes at most; it reports
// errHeadBudget when the head being read has outgrown the reader and finds
// no room in the budget.
func (h *headCount) beforeRead(c net.Conn) error {
	if h.h2 {
		return h.blocks.before(c, h)
	}
	if h.heads == nil || h.resting || h.read < readerSize || h.held.Load() > 0 {
		return nil
	}
	if !h.hold() {
		h.refused = true
		return errHeadBudget
	}
	return nil
}

// hold takes the head's room from the budget, or reports false when there
// is none. A connection closed meanwhile gives it back at once.
func (h *headCount) hold() bool {
	if !h.heads.budget.Take(h.heads.each) {
		return false
	}
	h.held.Store(h.heads.each)
	if h.closed.Load() {
		h.release()
	}
	return true
}

// closeConn gives back the room held, as the connection closes: an HTTP/2
// connection has no state hook to do it.
func (h *headCount) closeConn() {
	h.closed.Store(true)
	h.release()
}

// afterRead counts the bytes p read.
func (h *headCount) afterRead(p []byte) {
	if h.h2 {
		h.blocks.after(p, h)
		return
	}
	if h.heads == nil || h.resting {
		return
	}
	if h.nprefix < len(h.prefix) {
		k := copy(h.prefix[h.nprefix:], p)
		h.nprefix += k
		// net/http reads the whole preface before it hands the connection
		// to its HTTP/2 server, whose goroutines then read frames and set
		// states: h2 is set before they start, and they only read it.
		if h.nprefix == len(h.prefix) && string(h.prefix[:]) == h2Preface {
			h.h2 = true
			h.blocks.after(p[k:], h)
			return
		}
	}
	h.read += int64(len(p))
}

// state follows net/http's connection states: a head starts with the
// connection and at each return to idle, and ends when net/http marks the
// connection active; the room it held comes back then, or when the
// connection ends.
func (h *headCount) state(s http.ConnState) {
	if h.heads == nil || h.h2 {
		return
	}
	switch s {
	case http.StateNew, http.StateIdle:
		h.resting, h.read = false, 0
	case http.StateActive:
		h.resting = true
		h.release()
	default:
		// Closed or hijacked: after Active, or with the connection's
		// reads over. A read of net/http's background reader may still
		// be under way, so nothing but the atomic room is touched.
		h.release()
	}
}

func (h *headCount) release() {
	if n := h.held.Swap(0); n > 0 {
		h.heads.budget.Give(n)
	}
}

// countHeads wraps hs.ConnState (keeping the one set) so that NetHTTP's
// connections follow their states.
func countHeads(hs *http.Server) {
	prev := hs.ConnState
	hs.ConnState = func(c net.Conn, s http.ConnState) {
		switch pc := c.(type) {
		case *problemConn:
			pc.heads.state(s)
		case *tlsProblemConn:
			pc.heads.state(s)
		}
		if prev != nil {
			prev(c, s)
		}
	}
}
