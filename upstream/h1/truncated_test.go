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

// An answer cut short must fail the body's Read with an error, never end
// it with io.EOF as if it were complete: a proxy relays io.EOF as a whole
// answer. Each case is sent through h1 and through http.Transport from the
// same raw backend, and both must fail.

// truncations are answers cut before their framing says they end; the
// backend closes the conn after writing one.
var truncations = []struct{ name, answer string }{
	{"chunked cut before the last chunk",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"},
	{"1 MiB chunk cut at 64 KiB",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + strings.Repeat("x", 64<<10)},
	{"chunk size zz",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n"},
	{"Content-Length cut short",
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"},
	{"chunked without its final CRLF",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"},
}

// bothTransports returns h1 and an http.Transport configured as the
// gateway's fallback.
func bothTransports(t *testing.T) map[string]http.RoundTripper {
	tr, _ := newTransport(t)
	std := &http.Transport{DisableCompression: true}
	t.Cleanup(std.CloseIdleConnections)
	return map[string]http.RoundTripper{"h1": tr, "http.Transport": std}
}

func TestTruncatedAnswersFailTheBody(t *testing.T) {
	for _, tc := range truncations {
		url, _ := rawServer(t, replies(tc.answer))
		for name, rt := range bothTransports(t) {
			resp, err := rt.RoundTrip(mustReq(t, "GET", url, ""))
			if err != nil {
				t.Fatalf("%s, %s: %v", tc.name, name, err)
			}
			b, err := io.ReadAll(resp.Body) // nil for io.EOF
			resp.Body.Close()
			if err == nil {
				t.Errorf("%s, %s: body of %d bytes ended with io.EOF, want an error", tc.name, name, len(b))
			}
		}
	}
}

// endable is a context whose end the test chooses: ending it with
// context.DeadlineExceeded stands for a deadline, without a clock.
type endable struct {
	context.Context
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func newEndable() *endable {
	return &endable{Context: context.Background(), done: make(chan struct{})}
}

func (c *endable) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *endable) Done() <-chan struct{}       { return c.done }

func (c *endable) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *endable) end(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}

// The request's context (its budget) ending while the body streams fails
// the body's Read with an error that wraps the context's.
func TestContextEndsMidBody(t *testing.T) {
	for _, end := range []error{context.DeadlineExceeded, context.Canceled} {
		// The backend streams one chunk, then nothing until the client goes.
		url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
			if _, ok := readRequest(br); !ok {
				return
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
			io.Copy(io.Discard, nc)
		})
		for name, rt := range bothTransports(t) {
			ctx := newEndable()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatalf("%v, %s: %v", end, name, err)
			}
			buf := make([]byte, 3)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatalf("%v, %s: first chunk: %v", end, name, err)
			}
			done := make(chan error, 1)
			go func() { _, err := io.ReadAll(resp.Body); done <- err }()
			ctx.end(end)
			err = wait(t, done)
			resp.Body.Close()
			if err == nil {
				t.Errorf("%v, %s: body ended with io.EOF, want an error", end, name)
			}
			if name == "h1" && !errors.Is(err, end) {
				t.Errorf("%v, h1: body error %v does not wrap it", end, err)
			}
		}
	}
}

// TestContextEndClosesAnUnreadAnswer proves that a request whose context
// ends while its answer is unread (its client stopped reading, its budget
// ran out) has its connection closed at once, on both transports, so the
// backend stops writing an answer nobody wants instead of holding the
// connection until the reader gives up.
func TestContextEndClosesAnUnreadAnswer(t *testing.T) {
	gone := make(chan struct{}, 2)
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); !ok {
			return
		}
		io.WriteString(nc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
		io.Copy(io.Discard, br) // returns when the client closes
		gone <- struct{}{}
	})
	for name, rt := range bothTransports(t) {
		ctx := newEndable()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx.end(context.DeadlineExceeded) // the body is never read
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the backend's connection is still open 10 s after the context ended", name)
		}
		resp.Body.Close()
	}
}
