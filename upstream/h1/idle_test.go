package h1

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Transport's pool clock that a test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) read() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// send sends a request of method with a body to url, reads its answer
// and returns the round trip's error.
func send(t *testing.T, tr *Transport, method, url string) error {
	t.Helper()
	resp, err := tr.RoundTrip(mustReq(t, method, url, "x"))
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return err
}

// closesCrossing answers the first request of each conn with answer and
// resets the conn at the second without answering it: what a request sent
// on a conn its server closes as idle, as the two cross, gets.
func closesCrossing(answer string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); !ok {
			return
		}
		if _, err := io.WriteString(nc, answer); err != nil {
			return
		}
		if _, ok := readRequest(br); ok {
			nc.(*net.TCPConn).SetLinger(0)
		}
	}
}

// TestAnIdleConnIsNotRiskedForAPost holds a request that could not be sent
// again (a POST) to a fresh conn once the idle one has been idle for
// fragileIdle: its server may be closing it, and a close that crosses the
// request leaves nothing to do but fail it. Before, the POST took the idle
// conn, which its server reset, and failed.
func TestAnIdleConnIsNotRiskedForAPost(t *testing.T) {
	for _, m := range checkModes {
		t.Run(m.name, func(t *testing.T) {
			url, accepts := rawServer(t, closesCrossing("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			tr, d := newTransport(t)
			d.noExchange = m.noExchange
			clock := &fakeClock{now: time.Now()}
			tr.now = clock.read
			if err := send(t, tr, "POST", url); err != nil {
				t.Fatal(err)
			}
			clock.add(fragileIdle)
			if err := send(t, tr, "POST", url); err != nil {
				t.Fatalf("a POST after %v idle: %v", fragileIdle, err)
			}
			if n := accepts.Load(); n != 2 {
				t.Fatalf("%d conns, want 2: the second POST on a fresh one", n)
			}
		})
	}
}

// TestAnEarlyCloserGetsFreshConnsForPosts: a server that closes its conns
// sooner than fragileIdle without saying so (closesCrossing, the close
// crossing the next request) fails the first POST sent on a conn it had
// used (nothing to do: the server may have read it), and teaches the
// transport: its later POSTs go on fresh conns, while a GET still reuses
// one (and is sent again should it cross a close). Before, every POST on a
// reused conn failed. The lesson is forgotten earlyCloseMemory after the
// last close found.
func TestAnEarlyCloserGetsFreshConnsForPosts(t *testing.T) {
	for _, m := range checkModes {
		t.Run(m.name, func(t *testing.T) {
			url, accepts := rawServer(t, closesCrossing("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			tr, d := newTransport(t)
			d.noExchange = m.noExchange
			clock := &fakeClock{now: time.Now()}
			tr.now = clock.read
			if err := send(t, tr, "POST", url); err != nil {
				t.Fatal(err)
			}
			if err := send(t, tr, "POST", url); err == nil {
				t.Fatal("the POST crossing the close did not fail: the test tells nothing")
			}
			for i := range 5 {
				clock.add(time.Millisecond)
				if err := send(t, tr, "POST", url); err != nil {
					t.Fatalf("POST %d after the early close was found: %v", i, err)
				}
			}
			if n := accepts.Load(); n != 6 {
				t.Fatalf("%d conns, want 6: each POST after the lesson on a fresh one", n)
			}
			clock.add(earlyCloseMemory)
			if err := send(t, tr, "POST", url); err != nil {
				t.Fatal(err) // the last POST's conn: fresh, not yet reused
			}
			if err := send(t, tr, "POST", url); err == nil {
				t.Fatalf("a POST %v after the last early close found took a fresh conn: the lesson is never forgotten", earlyCloseMemory)
			}
		})
	}
}

// TestAFreshlyIdleConnCarriesAPost: a conn idle for less than fragileIdle
// carries a POST, as a busy pool's conns do.
func TestAFreshlyIdleConnCarriesAPost(t *testing.T) {
	url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, _ := newTransport(t)
	clock := &fakeClock{now: time.Now()}
	tr.now = clock.read
	for range 3 {
		if err := send(t, tr, "POST", url); err != nil {
			t.Fatal(err)
		}
		clock.add(fragileIdle - time.Millisecond)
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d conns, want 1", n)
	}
}

// TestAServersStatedIdleTimeIsKept: a server that states its idle time
// (Keep-Alive: timeout=N, as Node.js and Apache do) has its conns retired
// before it, for every request (keepMargin); idle for less, they are
// reused, GETs and POSTs alike (a POST within fragileIdle too).
func TestAServersStatedIdleTimeIsKept(t *testing.T) {
	for _, tt := range []struct {
		name     string
		timeout  string
		method   string
		idle     time.Duration
		wantConn int32
	}{
		{"past the margin of 2 s", "timeout=2", "GET", time.Second, 2},
		{"within the margin of 2 s", "timeout=2", "GET", time.Second - time.Millisecond, 1},
		{"past the margin of 5 s", "timeout=5, max=100", "GET", 4 * time.Second, 2},
		{"within the margin of 5 s", "timeout=5, max=100", "GET", 4*time.Second - time.Millisecond, 1},
		{"a POST past the margin of 1 s", "timeout=1", "POST", 500 * time.Millisecond, 2},
		{"a POST within it", "timeout=1", "POST", 499 * time.Millisecond, 1},
		{"not a number", "timeout=5s", "GET", time.Hour / 2, 1},
		{"zero", "timeout=0", "GET", time.Hour / 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nKeep-Alive: "+tt.timeout+"\r\nContent-Length: 2\r\n\r\nok"))
			tr, d := newTransport(t)
			tr.IdleTimeout = time.Hour
			clock := &fakeClock{now: time.Now()}
			tr.now = clock.read
			for i := range 2 {
				if err := send(t, tr, tt.method, url); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				clock.add(tt.idle)
			}
			if n := accepts.Load(); n != tt.wantConn {
				t.Fatalf("%d conns, want %d", n, tt.wantConn)
			}
			if n := d.open.Load(); n != 1 {
				t.Fatalf("%d conns open, want 1: a retired conn is closed", n)
			}
		})
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	for _, tt := range []struct {
		fields []string
		want   time.Duration
	}{
		{nil, 0},
		{[]string{"timeout=5"}, 5 * time.Second},
		{[]string{"max=100, timeout=5"}, 5 * time.Second},
		{[]string{" Timeout = 7 , max=3"}, 7 * time.Second},
		{[]string{"max=100", "timeout=2"}, 2 * time.Second},
		{[]string{"timeout=0"}, 0},
		{[]string{"timeout=-1"}, 0},
		{[]string{"timeout=1.5"}, 0},
		{[]string{"timeout=99999999999"}, 0},
		{[]string{"timeout=4294967295"}, maxKeepAlive},
		{[]string{"timeout"}, 0},
	} {
		if got := keepAliveTimeout(tt.fields); got != tt.want {
			t.Errorf("keepAliveTimeout(%q) = %v, want %v", tt.fields, got, tt.want)
		}
	}
}
