package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// deadlineOnly is a context with a deadline and no Done channel, which no
// standard context is: the round trip sets the deadline on the socket.
type deadlineOnly struct {
	context.Context
	dl time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.dl, true }
func (c deadlineOnly) Done() <-chan struct{}       { return nil }
func (c deadlineOnly) Err() error {
	if time.Now().Before(c.dl) {
		return nil
	}
	return context.DeadlineExceeded
}

// The socket's deadline ends an exchange waiting for an answer on a reused
// conn, as it ends the read of a written request: the error is the
// deadline's, with the request written. (The round trip waits up to a
// second for a Done channel this context does not have: see ctxErr.)
func TestSocketDeadlineEndsExchange(t *testing.T) {
	for _, m := range checkModes {
		t.Run(m.name, func(t *testing.T) {
			got := make(chan struct{}, 1)
			url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
				if _, ok := readRequest(br); !ok {
					return
				}
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				if _, ok := readRequest(br); !ok {
					return
				}
				got <- struct{}{}
				io.Copy(io.Discard, br) // no answer, until the client closes
			})
			tr, d := newTransport(t)
			d.noExchange = m.noExchange
			get(t, tr, url)
			ctx := deadlineOnly{Context: context.Background(), dl: time.Now().Add(100 * time.Millisecond)}
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			err := wait(t, roundTripAsync(tr, req))
			<-got
			var ne net.Error
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNothingWritten) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("err %v; want the deadline's timeout, the request written", err)
			}
			waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
		})
	}
}

// Every idle conn failing its check is closed, with nothing sent, and the
// next taken: a POST, which is not sent twice, goes through on a new conn
// after three pooled conns that the server closed.
func TestEveryIdleConnNotQuiet(t *testing.T) {
	for _, m := range checkModes {
		t.Run(m.name, func(t *testing.T) {
			release := make(chan struct{})
			url, accepts := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
				if _, ok := readRequest(br); !ok {
					return
				}
				<-release // three requests in flight: three conns
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// and closes the conn, which the client pools
			})
			tr, d := newTransport(t)
			d.noExchange = m.noExchange
			var resps []<-chan error
			for i := 0; i < 3; i++ {
				resps = append(resps, roundTripAsync(tr, mustReq(t, "GET", url, "")))
			}
			waitFor(t, "three conns", func() bool { return accepts.Load() == 3 })
			close(release)
			for _, done := range resps {
				if err := wait(t, done); err != nil {
					t.Fatal(err)
				}
			}
			p := tr.pool(strings.TrimPrefix(url, "http://"))
			waitFor(t, "three idle conns the server closed", func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				if len(p.idle) != 3 {
					return false
				}
				for _, c := range p.idle {
					if c.probe.ok() {
						return false
					}
				}
				return true
			})
			resp, err := tr.RoundTrip(mustReq(t, "POST", url, ""))
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			resp.Body.Close()
			if n := accepts.Load(); n != 4 {
				t.Fatalf("%d conns, want 4", n)
			}
		})
	}
}
