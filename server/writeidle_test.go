package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stalledAnswers is how many answers of answerBytes a client that reads none
// asks for: more than the loopback socket buffers of both ends hold (4 MiB
// each at most, net.ipv4.tcp_wmem and tcp_rmem's defaults), with the
// client's receive buffer made small too.
const (
	stalledAnswers = 300
	answerBytes    = 64 << 10
)

// A client that pipelines requests and reads none of their answers is cut
// off once a write has waited WriteIdleTimeout, on this package's server
// and on net/http's under WriteIdle, though no handler sets a deadline: the
// server's own writes of an answer (its end, flushed once the handler
// returned) held the connection, its goroutine and buffers for ever.
func TestAClientThatReadsNoAnswerIsCutOff(t *testing.T) {
	body := bytes.Repeat([]byte("w"), answerBytes)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	const idle = 200 * time.Millisecond
	for _, kind := range []string{"sluice", "net/http"} {
		t.Run(kind, func(t *testing.T) {
			conns := NewConnLimit(100, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if kind == "sluice" {
				startServerOn(t, ln, h, func(s *Server) { s.Conns, s.WriteIdleTimeout = conns, idle })
			} else {
				hs := &http.Server{Handler: h}
				served := NetHTTP(hs, WriteIdle(conns.Listener(ln), idle))
				go func() { _ = hs.Serve(served) }()
				t.Cleanup(func() { hs.Close() })
			}
			c := dialSmallWindow(t, ln.Addr().String())
			go func() {
				_, _ = io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", stalledAnswers))
			}()
			waitConns(t, conns, 1)
			// Reads nothing: the server must give up on a write and close.
			start := time.Now()
			waitConns(t, conns, 0)
			t.Logf("closed %v after the connection was counted", time.Since(start).Round(time.Millisecond))
		})
	}
}

// dialSmallWindow connects to addr with a small receive buffer, closed with
// the test.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitConns waits until l counts n open connections.
func waitConns(t *testing.T, l *ConnLimit, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for l.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after %v, want %d", l.Open(), waitLimit, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
}

// A connection that a user's write deadline bounds is bounded by it alone,
// and one given back to the fallback (a zero deadline) by the fallback:
// WriteIdle's connection sets the fallback only while no deadline is set,
// and keeps it on the socket within a grain of the one due.
func TestWriteIdleConnFallsBackWhenNoDeadlineIsSet(t *testing.T) {
	ln := listenDeadlines(t)
	idle := 10 * time.Second
	wl := WriteIdle(ln, idle)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	c, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dc := c.(*writeIdleConn).Conn.(*deadlineConn)
	write := func() {
		t.Helper()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	write()
	first := dc.writeDeadline()
	if d := time.Until(first); d < idle-idleGrain(idle) || d > idle+idleGrain(idle) {
		t.Fatalf("fallback deadline %v from now, want %v", d, idle)
	}
	sets := ln.sets.Load()
	for range 100 {
		write()
	}
	if n := ln.sets.Load() - sets; n > 1 {
		t.Errorf("%d deadline calls for 100 writes within a grain, want at most 1", n)
	}
	own := time.Now().Add(time.Hour)
	if err := c.SetWriteDeadline(own); err != nil {
		t.Fatal(err)
	}
	write()
	if got := dc.writeDeadline(); !got.Equal(own) {
		t.Fatalf("write under %v, want the user's %v", got, own)
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	write()
	if d := time.Until(dc.writeDeadline()); d < idle-idleGrain(idle) || d > idle+idleGrain(idle) {
		t.Fatalf("deadline %v from now once the user's was cleared, want the fallback's %v", d, idle)
	}
}
