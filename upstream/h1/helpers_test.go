package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/rawio"
)

// dialer dials TCP and counts dials and the conns it made that are open.
// Its conns go through rawio, as the default dialer's do, and are
// Exchangers where rawio makes them so (Linux), unless noExchange: then a
// reused conn is checked by its probe when the pool hands it out.
type dialer struct {
	dials      atomic.Int32
	open       atomic.Int32
	maxOpen    atomic.Int32
	noExchange bool
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	n := d.open.Add(1)
	for {
		m := d.maxOpen.Load()
		if n <= m || d.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	cc := &countedConn{Conn: rawio.Wrap(nc), d: d}
	if x, ok := cc.Conn.(rawio.Exchanger); ok && !d.noExchange {
		return &exchangeConn{countedConn: cc, x: x}, nil
	}
	return cc, nil
}

// exchangeConn is a countedConn that is a rawio.Exchanger.
type exchangeConn struct {
	*countedConn
	x rawio.Exchanger
}

func (c *exchangeConn) Exchange(req, p []byte, quiet bool) (int, int, error) {
	return c.x.Exchange(req, p, quiet)
}

// checkModes are the two ways a reused conn is checked: by its exchange,
// or by a probe as the pool hands it out.
var checkModes = []struct {
	name       string
	noExchange bool
}{{"exchange", false}, {"probe", true}}

type countedConn struct {
	net.Conn
	d    *dialer
	once sync.Once
}

// SyscallConn lets the liveness probe see the TCP conn.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

// newTransport returns a Transport dialling through a new dialer, its idle
// conns closed at the test's end.
func newTransport(t testing.TB) (*Transport, *dialer) {
	d := &dialer{}
	// Every body is sent inline, so that the tests exercise this transport's
	// own framing; TestLargeBodiesFallBackByDefault checks the default.
	tr := &Transport{DialContext: d.DialContext, MaxInlineBody: -1}
	t.Cleanup(tr.CloseIdleConnections)
	return tr, d
}

// waitFor waits until cond holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// get sends a GET to url and returns the status and body.
func get(t testing.TB, rt http.RoundTripper, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// rawServer serves each conn with handle, in its own goroutine, and counts
// the accepted conns. It returns the "http://addr" base URL.
func rawServer(t testing.TB, handle func(nc net.Conn, br *bufio.Reader)) (string, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepts atomic.Int32
	var wg sync.WaitGroup // the accept loop and the handlers
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			mu.Lock()
			if closed { // accepted as the test ended
				mu.Unlock()
				nc.Close()
				return
			}
			conns = append(conns, nc)
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer nc.Close()
				handle(nc, bufio.NewReader(nc))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), &accepts
}

// readRequest reads one request and its body; false when none came.
func readRequest(br *bufio.Reader) (*http.Request, bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, false
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err == nil
}

// replies serves each request of a conn with the next of answers, then
// closes the conn.
func replies(answers ...string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		for _, a := range answers {
			if _, ok := readRequest(br); !ok {
				return
			}
			if _, err := io.WriteString(nc, a); err != nil {
				return
			}
		}
	}
}

// keepAlive serves every request of a conn with answer.
func keepAlive(answer string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		for {
			if _, ok := readRequest(br); !ok {
				return
			}
			if _, err := io.WriteString(nc, answer); err != nil {
				return
			}
		}
	}
}

// server is an httptest.Server that tracks its open conns.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	open    int
	maxOpen int
}

func newServer(t testing.TB, h http.HandlerFunc) *server {
	s := &server{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.open++
			s.maxOpen = max(s.maxOpen, s.open)
		case http.StateClosed, http.StateHijacked:
			s.open--
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) counts() (open, maxOpen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.maxOpen
}

func mustReq(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
