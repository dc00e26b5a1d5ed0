package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func okServer(t *testing.T) *server {
	return newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
}

func TestCloseIdleConnections(t *testing.T) {
	s := okServer(t)
	tr, d := newTransport(t)
	get(t, tr, s.URL)
	if d.open.Load() != 1 {
		t.Fatal("no idle conn")
	}
	tr.CloseIdleConnections()
	if n := d.open.Load(); n != 0 {
		t.Fatalf("%d conns open after CloseIdleConnections", n)
	}
	get(t, tr, s.URL)
	if n := d.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
}

func TestCloseHost(t *testing.T) {
	s1, s2 := okServer(t), okServer(t)
	tr, d := newTransport(t)
	get(t, tr, s2.URL) // another host, untouched
	busy, err := tr.RoundTrip(mustReq(t, "GET", s1.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	get(t, tr, s1.URL) // a second conn to s1, left idle
	if n := d.open.Load(); n != 3 {
		t.Fatalf("%d open, want 3", n)
	}
	tr.CloseHost(strings.TrimPrefix(s1.URL, "http://"))
	if n := d.open.Load(); n != 2 {
		t.Fatalf("%d open after CloseHost, want 2 (the busy one and s2's)", n)
	}
	io.ReadAll(busy.Body)
	busy.Body.Close()
	if n := d.open.Load(); n != 1 {
		t.Fatalf("%d open after the busy conn's release, want 1", n)
	}
	get(t, tr, s1.URL)
	get(t, tr, s2.URL)
	if n := d.dials.Load(); n != 4 {
		t.Fatalf("%d dials, want 4", n)
	}
	// With nothing busy, the pool leaves the Transport; requests go on.
	tr.CloseHost(strings.TrimPrefix(s1.URL, "http://"))
	if m := *tr.hosts.Load(); len(m) != 1 {
		t.Fatalf("%d pools, want 1", len(m))
	}
	get(t, tr, s1.URL)
}

func TestIdleTimeoutLazy(t *testing.T) {
	s := okServer(t)
	tr, d := newTransport(t)
	tr.IdleTimeout = time.Hour // the timer won't fire during the test
	var mu sync.Mutex
	now := time.Now()
	tr.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	get(t, tr, s.URL)
	get(t, tr, s.URL)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	get(t, tr, s.URL)
	if n := d.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
	if n := d.open.Load(); n != 1 {
		t.Fatalf("%d open, want 1: the expired conn must be closed", n)
	}
}

func TestIdleTimeoutTimer(t *testing.T) {
	s := okServer(t)
	tr, d := newTransport(t)
	tr.IdleTimeout = 20 * time.Millisecond
	for i := 0; i < 2; i++ { // the second round re-arms the timer
		get(t, tr, s.URL)
		waitFor(t, "the idle conn to be closed", func() bool { return d.open.Load() == 0 })
		waitFor(t, "the server to see it", func() bool { open, _ := s.counts(); return open == 0 })
	}
}

// pipeDialer dials in-memory conns that nobody answers, and counts.
type pipeDialer struct {
	dials  int
	client []net.Conn
}

func (d *pipeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c1, c2 := net.Pipe()
	d.dials++
	d.client = append(d.client, c1)
	go func() { io.Copy(io.Discard, c2); c2.Close() }()
	return c1, nil
}

func closed(c net.Conn) bool {
	_, err := c.Write([]byte("x"))
	return errors.Is(err, io.ErrClosedPipe)
}

func TestFreshAtLimitTakesAnIdleSlot(t *testing.T) {
	d := &pipeDialer{}
	tr := &Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	p := tr.pool("x:1")
	c, err := p.get(context.Background(), time.Time{}, false, false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p.put(c, true)
	c2, err := p.get(context.Background(), time.Time{}, true, false, time.Time{}) // fresh, at the limit
	if err != nil {
		t.Fatal(err)
	}
	if d.dials != 2 || c2 == c || !closed(d.client[0]) || p.total != 1 {
		t.Fatalf("%d dials, same conn %v, old closed %v, total %d", d.dials, c2 == c, closed(d.client[0]), p.total)
	}
	p.put(c2, false)
}

func TestWaiterGetsSlotOfClosedConn(t *testing.T) {
	url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	tr, _ := newTransport(t)
	tr.MaxConnsPerHost = 1
	held, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
	if err != nil {
		t.Fatal(err)
	}
	done := roundTripAsync(tr, mustReq(t, "GET", url, ""))
	p := tr.pool(strings.TrimPrefix(url, "http://"))
	waitFor(t, "a waiter", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 })
	held.Body.Close() // before EOF of a chunked body: the conn is closed
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if n := accepts.Load(); n != 2 {
		t.Fatalf("%d conns, want 2", n)
	}
}

func TestEndless1xx(t *testing.T) {
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		readRequest(br)
		for {
			if _, err := io.WriteString(nc, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"); err != nil {
				return
			}
		}
	})
	tr, _ := newTransport(t)
	_, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
	if !errors.Is(err, errHeaderTooLarge) {
		t.Fatalf("err %v, want errHeaderTooLarge", err)
	}
}

func TestMaxIdlePerHost(t *testing.T) {
	s := okServer(t)
	tr, d := newTransport(t)
	tr.MaxIdlePerHost = 1
	var resps []*http.Response
	for i := 0; i < 3; i++ {
		resp, err := tr.RoundTrip(mustReq(t, "GET", s.URL, ""))
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	for _, r := range resps {
		io.ReadAll(r.Body)
		r.Body.Close()
	}
	if n := d.open.Load(); n != 1 {
		t.Fatalf("%d open, want 1", n)
	}
}

func TestHostWithoutPort(t *testing.T) {
	if got := hostPort("example.com"); got != "example.com:80" {
		t.Fatal(got)
	}
	if got := hostPort("[::1]"); got != "[::1]:80" {
		t.Fatal(got)
	}
	if got := hostPort("[::1]:8080"); got != "[::1]:8080" {
		t.Fatal(got)
	}
}

// monoNow, the pools' clock, keeps a monotonic reading, so that its times
// subtract on the monotonic clock from one another and from time.Now's
// (the round trip's start, with which get evicts), and reads what
// time.Now does.
func TestMonoNow(t *testing.T) {
	before := time.Now()
	m := monoNow()
	after := time.Now()
	if !strings.Contains(m.String(), " m=") {
		t.Fatalf("monoNow() = %v, without a monotonic reading", m)
	}
	if m.Before(before) || m.After(after) {
		t.Fatalf("monoNow() = %v, not between the readings of time.Now around it, %v and %v", m, before, after)
	}
}
