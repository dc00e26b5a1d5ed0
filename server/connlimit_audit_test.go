package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// limitHangGuard bounds the waits of the ConnLimit tests: a guard against
// a hang, never a measure of speed.
const limitHangGuard = 20 * time.Second

// getOn sends a GET on c and returns the answer's status, or the error
// that came instead of an answer.
func getOn(c net.Conn, br *bufio.Reader) (int, error) {
	c.SetDeadline(time.Now().Add(limitHangGuard))
	if _, err := fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitOpen waits until l counts n connections open.
func waitOpen(t *testing.T, l *ConnLimit, n int) {
	t.Helper()
	deadline := time.Now().Add(limitHangGuard)
	for l.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted open, want %d", l.Open(), n)
		}
		time.Sleep(time.Millisecond) // polling the server's state
	}
}

// limitedServe serves ok answers on a listener of its own, through the
// lean server or net/http's, bounded by l; it returns the address.
func limitedServe(t *testing.T, lean bool, l *ConnLimit, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveLimited(t, lean, ln, l, h)
	return ln.Addr().String()
}

// serveLimited serves h on ln, bounded by l, with the lean server or
// net/http's, until the test ends.
func serveLimited(t *testing.T, lean bool, ln net.Listener, l *ConnLimit, h http.Handler) {
	if lean {
		s := &Server{Handler: h, Conns: l}
		go s.Serve(ln)
		t.Cleanup(func() { s.Close() })
	} else {
		hs := &http.Server{Handler: h}
		go hs.Serve(NetHTTP(hs, l.Listener(ln)))
		t.Cleanup(func() { hs.Close() })
	}
}

// TestConnLimitAudit: over its bound, a server closes a new connection at
// once, unanswered, and counts the refusal; the connections open are
// served as before, and a place freed by a client leaving is taken again.
func TestConnLimitAudit(t *testing.T) {
	for _, lean := range []bool{true, false} {
		t.Run(map[bool]string{true: "lean", false: "net-http"}[lean], func(t *testing.T) {
			l := NewConnLimit(2, nil)
			addr := limitedServe(t, lean, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			var open []net.Conn
			var readers []*bufio.Reader
			for range 2 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				br := bufio.NewReader(c)
				if code, err := getOn(c, br); err != nil || code != http.StatusOK {
					t.Fatalf("within the bound: %d, %v", code, err)
				}
				open, readers = append(open, c), append(readers, br)
			}
			over, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer over.Close()
			if code, err := getOn(over, bufio.NewReader(over)); err == nil {
				t.Fatalf("over the bound: answered %d, want the connection closed", code)
			}
			if l.Refused() != 1 {
				t.Errorf("%d refusals counted, want 1", l.Refused())
			}
			// The connections open are served still.
			if code, err := getOn(open[1], readers[1]); err != nil || code != http.StatusOK {
				t.Fatalf("a connection within the bound, after a refusal: %d, %v", code, err)
			}
			open[0].Close()
			waitOpen(t, l, 1)
			again, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if code, err := getOn(again, bufio.NewReader(again)); err != nil || code != http.StatusOK {
				t.Fatalf("in the place freed: %d, %v", code, err)
			}
		})
	}
}

// TestConnLimitHijackAudit: a hijacked connection keeps its place until
// the handler that took it closes it, once, however many times.
func TestConnLimitHijackAudit(t *testing.T) {
	for _, lean := range []bool{true, false} {
		t.Run(map[bool]string{true: "lean", false: "net-http"}[lean], func(t *testing.T) {
			l := NewConnLimit(1, nil)
			taken := make(chan net.Conn, 1)
			addr := limitedServe(t, lean, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				taken <- c
			}))
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			var hc net.Conn
			select {
			case hc = <-taken:
			case <-time.After(limitHangGuard):
				t.Fatal("the handler did not hijack")
			}
			if l.Open() != 1 {
				t.Fatalf("a hijacked connection: %d counted open, want 1", l.Open())
			}
			if _, ok := hc.(interface{ CloseWrite() error }); !ok {
				t.Error("the hijacked connection cannot half-close (no CloseWrite)")
			}
			hc.Close()
			hc.Close()
			waitOpen(t, l, 0)
		})
	}
}

// TestConnLimitNil: a nil ConnLimit bounds nothing.
func TestConnLimitNil(t *testing.T) {
	var l *ConnLimit
	if lc, ok := l.acquire(nil); NewConnLimit(0, nil) != nil || lc != nil || !ok || l.Max() != 0 || l.Open() != 0 || l.Refused() != 0 {
		t.Fatal("a nil ConnLimit bounds something")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if l.Listener(ln) != ln {
		t.Error("a nil ConnLimit wraps the listener")
	}
}
