package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWriteDeadline proves that a write deadline a handler sets through
// http.ResponseController ends its writes to a client that does not read,
// on both servers.
func TestWriteDeadline(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			errs <- err
			return
		}
		errs <- writeUntilFails(w)
	})
	for _, srv := range bothServers(t, h, limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
		if err := wait(t, errs, "the write to fail"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the write failed with %v, want the deadline's error", srv.name, err)
		}
	}
}

// TestWriteIdleTimeout proves that a write idle timeout a handler sets
// (SetWriteIdleTimeout) ends its writes to a client that does not read.
func TestWriteIdleTimeout(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := w.(interface{ SetWriteIdleTimeout(time.Duration) error }).SetWriteIdleTimeout(100 * time.Millisecond); err != nil {
			errs <- err
			return
		}
		errs <- writeUntilFails(w)
	})
	srv := startServer(t, h)
	rc := dialRaw(t, srv.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	if err := wait(t, errs, "the write to fail"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the write failed with %v, want the deadline's error", err)
	}
}

// writeUntilFails writes to w until a write fails, and returns its error.
func writeUntilFails(w http.ResponseWriter) error {
	chunk := []byte(strings.Repeat("x", 1<<20))
	for {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
}

// TestReadDeadline proves that a read deadline a handler sets through
// http.ResponseController ends its reads of a stalled body, on both
// servers.
func TestReadDeadline(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			errs <- err
			return
		}
		_, err := io.ReadAll(r.Body)
		errs <- err
	})
	for _, srv := range bothServers(t, h, limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab") // and stall
		if err := wait(t, errs, "the read to fail"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the read failed with %v, want the deadline's error", srv.name, err)
		}
	}
}

// TestDeadlinesEndWithTheRequest proves that the deadlines a handler set
// do not outlive its request: the next request on the connection, after
// they passed, is read and answered, as net/http does.
func TestDeadlinesEndWithTheRequest(t *testing.T) {
	deadline := make(chan time.Time, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			d := time.Now().Add(50 * time.Millisecond)
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(d)
			rc.SetWriteDeadline(d)
			deadline <- d
		}
		io.WriteString(w, "ok")
	})
	for _, srv := range bothServers(t, h, limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("GET /set HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
		// Past the handler's deadlines, by the clock: no guess.
		time.Sleep(time.Until(wait(t, deadline, "the handler")) + 10*time.Millisecond)
		rc.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
	}
}

// TestWatchAfterClearedDeadline proves that a read deadline the handler set,
// which fires while the watch reads, is not taken for the client leaving
// when the handler cleared it in the meantime: the request goes on, and
// the watch goes on watching (it still notices the client leaving later).
func TestWatchAfterClearedDeadline(t *testing.T) {
	fired := make(chan struct{})       // the watch's read returned with the deadline's error
	release := newGate()               // the watch may look at that error
	reread := make(chan struct{}, 4)   // the watch reads (again)
	closeClient := make(chan struct{}) // the handler saw the watch read again
	testHookWatchRead = func() { reread <- struct{}{} }
	testHookWatchReadDone = func(err error) {
		if errors.Is(err, os.ErrDeadlineExceeded) && !release.isOpen() {
			close(fired)
			<-release.ch
		}
	}
	t.Cleanup(func() { testHookWatchRead, testHookWatchReadDone = nil, nil })
	outcome := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		wait(t, reread, "the watch to read")
		rc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		wait(t, fired, "the deadline to fire")
		rc.SetReadDeadline(time.Time{})
		release.open()
		select {
		case <-r.Context().Done():
			outcome <- "the request was cancelled when the cleared deadline fired"
			return
		case <-reread:
		case <-time.After(waitLimit):
			outcome <- "the watch did not read again"
			return
		}
		close(closeClient)
		select {
		case <-r.Context().Done():
			outcome <- ""
		case <-time.After(waitLimit):
			outcome <- "the client's leaving went unnoticed"
		}
	}), func(s *Server) { s.WatchAfter = -1 })
	t.Cleanup(release.open)
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-closeClient:
		rc.c.Close()
	case msg := <-outcome:
		t.Fatal(msg)
	case <-time.After(waitLimit):
		t.Fatal("the handler did not get to the client's leaving")
	}
	if msg := wait(t, outcome, "the handler"); msg != "" {
		t.Fatal(msg)
	}
}

func (g *gate) isOpen() bool {
	select {
	case <-g.ch:
		return true
	default:
		return false
	}
}

// deadlineListener hands out connections that count the deadlines set on
// them, note the read deadline each read starts under while noting is set,
// and report the bytes every read returned.
type deadlineListener struct {
	net.Listener
	sets   atomic.Int64 // Set*Deadline calls, on every connection
	noting atomic.Bool
	reads  chan int // the size of every read that returned bytes

	mu    sync.Mutex
	noted []time.Time // the read deadlines of the reads made while noting
}

func listenDeadlines(t testing.TB) *deadlineListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &deadlineListener{Listener: ln, reads: make(chan int, 1024)}
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, l: l}, nil
}

// notedDeadlines returns the read deadlines noted so far.
func (l *deadlineListener) notedDeadlines() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.noted...)
}

type deadlineConn struct {
	net.Conn
	l  *deadlineListener
	mu sync.Mutex
	rd time.Time // the read deadline
	wd time.Time // the write deadline
}

// writeDeadline returns the write deadline set last.
func (c *deadlineConn) writeDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wd
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.l.sets.Add(1)
	c.mu.Lock()
	c.rd, c.wd = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.l.sets.Add(1)
	c.mu.Lock()
	c.rd = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.l.sets.Add(1)
	c.mu.Lock()
	c.wd = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.l.noting.Load() {
		c.mu.Lock()
		rd := c.rd
		c.mu.Unlock()
		c.l.mu.Lock()
		c.l.noted = append(c.l.noted, rd)
		c.l.mu.Unlock()
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		select {
		case c.l.reads <- n:
		default:
		}
	}
	return n, err
}

// TestDeadlineCallsPerRequest proves that a kept-alive request costs no
// deadline call on the common path, with the gateway's limits, whether or
// not the handler sets and clears a write deadline around its write (as
// the gateway's routes do): the idle deadline is set again about once per
// grain (a second here), not per request, the header deadline only for a
// header that comes in pieces, and the handler's write deadline only for a
// write that reaches the socket while it is set. It used to be six calls.
// With the server's WriteIdleTimeout (the gateway sets it), the write
// deadline it falls back to is set again about once per grain of it too.
func TestDeadlineCallsPerRequest(t *testing.T) {
	const n = 200
	req := "GET /v1/items/42 HTTP/1.1\r\nHost: bench.test\r\n\r\n"
	for _, tt := range []struct {
		name      string
		h         http.Handler
		writeIdle time.Duration // the server's WriteIdleTimeout
	}{
		{"no handler deadline", benchHandler, 0},
		{"handler write deadline", benchGatewayHandler, 0},
		// The gateway's: its write deadline falls back to the server's,
		// set again about once per grain.
		{"no handler deadline, write idle timeout", benchHandler, 30 * time.Second},
		{"handler write deadline, write idle timeout", benchGatewayHandler, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln := listenDeadlines(t)
			startServerOn(t, ln, tt.h, func(s *Server) {
				s.WriteIdleTimeout = tt.writeIdle
				s.ReadHeaderTimeout, s.IdleTimeout = 10*time.Second, 2*time.Minute
				// A request the watch reads costs deadlines (to read,
				// and to stop the read), which a loaded machine could
				// cause by holding a request for WatchAfter: not here.
				s.WatchAfter = time.Hour
			})
			rc := dialRaw(t, ln.Addr().String())
			rc.send(req)
			rc.read("GET").checkOK(t, string(benchBody))
			before, start := ln.sets.Load(), time.Now()
			for range n {
				rc.send(req)
				rc.read("GET").checkOK(t, string(benchBody))
			}
			calls := ln.sets.Load() - before
			// The first wait's idle deadline (if not counted before),
			// and one per second the requests took.
			allowed := 1 + int64(time.Since(start)/time.Second) + 1
			if tt.writeIdle > 0 {
				allowed += 1 + int64(time.Since(start)/idleGrain(tt.writeIdle))
			}
			t.Logf("%d deadline calls for %d kept-alive requests", calls, n)
			if calls > allowed {
				t.Errorf("%d deadline calls for %d kept-alive requests, want at most %d", calls, n, allowed)
			}
		})
	}
}

// TestSlowBodyAfterHeader proves that a body read after its header is
// bounded by no deadline the server set for the header or the wait before
// it (which it leaves stale on the socket rather than clear it): with short
// ReadHeaderTimeout and IdleTimeout and no deadline for bodies, a body that
// stalls past both is read whole. Whether the header came at once (on a new
// connection, or a kept-alive one) or in pieces (which sets the header
// deadline); on both servers. The connection notes the read deadline of
// every read of the body: none may have one.
func TestSlowBodyAfterHeader(t *testing.T) {
	const timeout = 100 * time.Millisecond
	l := limits{readHeaderTimeout: timeout, idleTimeout: timeout}
	stale := timeout + idleGrain(timeout) // the latest a stale deadline could be, after it was set
	for _, tt := range []struct {
		name   string
		kept   bool
		pieces []string
	}{
		{"new connection", false, []string{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"}},
		{"kept-alive", true, []string{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"}},
		{"header in pieces", true, []string{"POST / HTTP/1.1\r\nHost: x\r\n", "Content-Length: 5\r\n\r\nab"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reading := make(chan time.Time, 1)
			bodies := make(chan string, 1)
			var ln *deadlineListener
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					return
				}
				ln.noting.Store(true)
				reading <- time.Now() // every deadline the server set for the header is older
				b, err := io.ReadAll(r.Body)
				ln.noting.Store(false)
				if err != nil {
					b = []byte(err.Error())
				}
				bodies <- string(b)
			})
			for _, lean := range []bool{true, false} {
				ln = listenDeadlines(t)
				name := "net-http"
				if lean {
					name = "sluice"
					startServerOn(t, ln, h, func(s *Server) {
						s.ReadHeaderTimeout, s.IdleTimeout = l.readHeaderTimeout, l.idleTimeout
					})
				} else {
					startNetHTTPOn(t, ln, h, l, true)
				}
				rc := dialRaw(t, ln.Addr().String())
				if tt.kept {
					rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
					rc.read("GET")
				}
				for i, piece := range tt.pieces {
					if i > 0 {
						// The server read the piece before: the next comes
						// in another read.
						for got := 0; got < len(tt.pieces[i-1]); {
							got += wait(t, ln.reads, "the server to read the piece")
						}
					}
					for len(ln.reads) > 0 {
						<-ln.reads
					}
					rc.send(piece)
				}
				began := wait(t, reading, "the handler to read the body")
				// Past every deadline the server set before the body, by the
				// clock: a stale one would have failed the read by now.
				time.Sleep(time.Until(began.Add(stale + 50*time.Millisecond)))
				rc.send("cde")
				if got := wait(t, bodies, "the body"); got != "abcde" {
					t.Errorf("%s: the handler read %q, want %q", name, got, "abcde")
				}
				for _, d := range ln.notedDeadlines() {
					if !d.IsZero() {
						t.Errorf("%s: the body was read under a deadline %v after it began", name, d.Sub(began))
					}
				}
				rc.read("POST")
			}
		})
	}
}

// TestHeaderTimeoutKeptAlive proves that a later request on a kept-alive
// connection whose header stalls is cut ReadHeaderTimeout after its first
// bytes, however long IdleTimeout is, on both servers: the header deadline,
// set only for a header that comes in pieces, is set for it.
func TestHeaderTimeoutKeptAlive(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, srv := range bothServers(t, h, limits{readHeaderTimeout: 100 * time.Millisecond, idleTimeout: time.Hour}) {
		rc := dialRaw(t, srv.addr) // reads fail after waitLimit
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n")
		rc.expectClosed()
	}
}

// setsConn records the deadlines set on it; nothing else of it is used.
type setsConn struct {
	net.Conn
	sets []time.Time
}

func (c *setsConn) SetReadDeadline(t time.Time) error {
	c.sets = append(c.sets, t)
	return nil
}

func (c *setsConn) SetWriteDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// TestLazyDeadline proves that a deadline reaches the socket only when a
// read needs it, or at once when a read is under way, and that the idle
// deadline is kept while it is within its grain.
func TestLazyDeadline(t *testing.T) {
	sc := &setsConn{}
	d := &deadline{rwc: sc}
	expect := func(step string, want ...time.Time) {
		t.Helper()
		if len(sc.sets) != len(want) {
			t.Fatalf("%s: the socket's deadline was set to %v, want %v", step, sc.sets, want)
		}
		for i := range want {
			if !sc.sets[i].Equal(want[i]) {
				t.Fatalf("%s: the socket's deadline was set to %v, want %v", step, sc.sets, want)
			}
		}
		sc.sets = nil
	}
	base := time.Now()
	t1, t2 := base.Add(time.Second), base.Add(2*time.Second)

	d.Set(t1)
	d.Set(time.Time{})
	d.begin()
	d.end()
	expect("set and cleared before a read")

	d.Set(t1)
	expect("set with no read under way")
	d.begin()
	expect("a read", t1)
	d.Set(t2)
	expect("set during the read", t2)
	d.end()
	d.Set(t1)
	d.Set(t2)
	d.begin()
	d.end()
	expect("set and set back before a read")

	grain := 10 * time.Millisecond
	lo := base.Add(time.Minute)
	d.setWithin(lo, grain)
	d.begin()
	d.end()
	expect("the first idle wait", lo.Add(grain))
	d.Set(time.Time{}) // the handler's time: stale, not cleared
	d.setWithin(lo.Add(grain/2), grain)
	d.begin()
	d.end()
	expect("an idle wait within the grain")
	d.setWithin(lo.Add(grain+1), grain)
	d.begin()
	d.end()
	expect("an idle wait past the grain", lo.Add(2*grain+1))

	d.setNow(time.Time{})
	expect("set now", time.Time{})
}

// TestIdleWriteDeadline proves that a write idle timeout (setIdle) reads
// the clock only for the writes that happen, each under a deadline of the
// timeout from its start, and none for a timeout set and cleared with no
// write in between; that one set during a write bounds it at once; and
// that Set ends it.
func TestIdleWriteDeadline(t *testing.T) {
	sc := &setsConn{}
	clock, reads := time.Now(), 0
	d := &deadline{rwc: sc, now: func() time.Time { reads++; return clock }}
	expect := func(step string, wantReads int, want ...time.Time) {
		t.Helper()
		if reads != wantReads || len(sc.sets) != len(want) {
			t.Fatalf("%s: %d clock readings, the socket's deadline set to %v; want %d, %v", step, reads, sc.sets, wantReads, want)
		}
		for i := range want {
			if !sc.sets[i].Equal(want[i]) {
				t.Fatalf("%s: the socket's deadline was set to %v, want %v", step, sc.sets, want)
			}
		}
		sc.sets, reads = nil, 0
	}
	const idle = time.Minute

	d.setIdle(idle)
	d.setIdle(0)
	d.begin()
	d.end()
	expect("set and cleared before a write", 0)

	d.setIdle(idle)
	expect("set with no write under way", 0)
	d.begin()
	d.end()
	expect("a write", 1, clock.Add(idle))
	clock = clock.Add(time.Second)
	d.begin()
	d.end()
	expect("the next write", 1, clock.Add(idle))
	d.Set(time.Time{})
	d.begin()
	d.end()
	expect("cleared by Set", 0, time.Time{})

	d.begin()
	d.setIdle(idle)
	expect("set during a write", 1, clock.Add(idle))
	d.setIdle(0)
	expect("cleared during the write", 0, time.Time{})
	d.end()
}

// TestWatchCountsFromItsRequest proves that the watch of a request starts
// once that request has run for WatchAfter, not earlier, even though the
// connection's watch was queued with the sweeper by the previous request:
// when the sweeper looks, it queues it again for the request it finds.
func TestWatchCountsFromItsRequest(t *testing.T) {
	const after = 100 * time.Millisecond
	reads := make(chan time.Time, 1)
	testHookWatchRead = func() {
		select {
		case reads <- time.Now():
		default:
		}
	}
	t.Cleanup(func() { testHookWatchRead = nil })
	released := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			released <- r.Context().Err()
		}
	}), func(s *Server) { s.WatchAfter = after })
	rc := dialRaw(t, ts.addr)
	rc.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("GET")
	// Half of WatchAfter later: a watch counted from the first request
	// would start half of it too early, a margin no timer is late by.
	time.Sleep(after / 2)
	sent := time.Now()
	rc.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if began := wait(t, reads, "the watch to read"); began.Sub(sent) < after {
		t.Errorf("the watch read %v after the request was sent, want at least %v", began.Sub(sent), after)
	}
	rc.c.Close()
	if err := wait(t, released, "the handler's release"); err != context.Canceled {
		t.Errorf("context error %v, want context.Canceled", err)
	}
}
