package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultErr stands for the error of a client's body that broke (malformed
// chunking, a client that hung up): the router marks such errors with a
// ClientFault method, and upstream must find them in RoundTrip's error.
type faultErr struct{ after int }

func (e *faultErr) Error() string     { return "client body broke" }
func (e *faultErr) ClientFault() bool { return true }

// failingBody returns n bytes of 'x', then err.
type failingBody struct {
	n   int
	err error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, b.err
	}
	k := min(len(p), b.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	b.n -= k
	return k, nil
}

func (b *failingBody) Close() error { return nil }

// failingRequest is a request whose body breaks after sent bytes of
// length declared (-1: unknown). Its GetBody counts how often the body was
// asked for again.
func failingRequest(t *testing.T, method, url string, sent int, length int64, rewinds *atomic.Int32) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = &failingBody{n: sent, err: &faultErr{after: sent}}
	req.ContentLength = length
	req.GetBody = func() (io.ReadCloser, error) {
		rewinds.Add(1)
		return &failingBody{n: sent, err: &faultErr{after: sent}}, nil
	}
	return req
}

// checkBodyErr checks that err is the body's own error, found by
// errors.As, and that it still reads as the client's fault.
func checkBodyErr(t *testing.T, what string, err error) {
	t.Helper()
	var fe *faultErr
	if !errors.As(err, &fe) {
		t.Fatalf("%s: err %v (%T): errors.As finds no *faultErr", what, err, err)
	}
	var cf interface{ ClientFault() bool }
	if !errors.As(err, &cf) || !cf.ClientFault() {
		t.Fatalf("%s: err %v does not carry ClientFault", what, err)
	}
}

// A request body that fails while h1 writes the request fails RoundTrip
// with an error wrapping the body's (and not ErrNothingWritten, as with
// http.Transport), is not sent again (not even with a GetBody and an
// idempotent method), and its conn is not reused.
func TestRequestBodyErrorWrapped(t *testing.T) {
	for _, sent := range []int{0, 5, 8 << 10} { // before, within, after the first flush
		url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		tr, d := newTransport(t)
		get(t, tr, url) // a pooled conn for the PUT to reuse
		var rewinds atomic.Int32
		req := failingRequest(t, "PUT", url, sent, int64(sent)+10, &rewinds)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("sent %d: no error", sent)
		}
		checkBodyErr(t, "h1", err)
		if errors.Is(err, ErrNothingWritten) {
			t.Fatalf("sent %d: err %v wraps ErrNothingWritten: the body failed, not the conn", sent, err)
		}
		if n := rewinds.Load(); n != 0 {
			t.Fatalf("sent %d: the request was sent again (%d rewinds)", sent, n)
		}
		waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
		get(t, tr, url)
		if n := accepts.Load(); n != 2 {
			t.Fatalf("sent %d: %d conns, want 2", sent, n)
		}
	}
}

// Bodies of unknown length or over MaxInlineBody go to Fallback, an
// http.Transport, which returns the body's error as it is.
func TestRequestBodyErrorThroughFallback(t *testing.T) {
	url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, _ := newTransport(t)
	tr.MaxInlineBody = 0 // the default: these go to Fallback
	for _, c := range []struct {
		sent   int
		length int64
	}{{5, -1}, {DefaultMaxInlineBody + 5, 2 * DefaultMaxInlineBody}} {
		var rewinds atomic.Int32
		req := failingRequest(t, "POST", url, c.sent, c.length, &rewinds)
		if !tr.bodyTooBig(req) {
			t.Fatalf("length %d: not for Fallback", c.length)
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("length %d: no error", c.length)
		}
		checkBodyErr(t, fmt.Sprintf("Fallback, length %d", c.length), err)
	}
}

// stalledBody blocks its first Read until release is closed, then fails.
type stalledBody struct {
	release chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func (b *stalledBody) Read(p []byte) (int, error) {
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

func (b *stalledBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// A request body whose Read blocks (a client that stalls its upload) does
// not hold RoundTrip past the context's end: RoundTrip returns the
// context's error, and the conn is closed, not reused.
func TestStalledRequestBodyEndsWithContext(t *testing.T) {
	for _, end := range []error{context.DeadlineExceeded, context.Canceled} {
		sawHeader := make(chan struct{}, 1)
		url, accepts := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.Method == "PUT" {
					sawHeader <- struct{}{}
				}
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		tr, d := newTransport(t)
		get(t, tr, url) // the PUT reuses this conn
		ctx := newEndable()
		body := &stalledBody{release: make(chan struct{}), closed: make(chan struct{})}
		var releaseOnce sync.Once
		release := func() { releaseOnce.Do(func() { close(body.release) }) }
		t.Cleanup(release)
		req, _ := http.NewRequestWithContext(ctx, "PUT", url, body)
		req.ContentLength = 10
		done := roundTripAsync(tr, req)
		<-sawHeader
		ctx.end(end)
		if err := wait(t, done); !errors.Is(err, end) {
			t.Fatalf("%v: err %v, want the context's", end, err)
		}
		waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
		get(t, tr, url)
		if n := accepts.Load(); n != 2 {
			t.Fatalf("%v: %d conns, want 2", end, n)
		}
		// The write left behind ends with the body's Read, and closes it.
		release()
		select {
		case <-body.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: the request body was never closed", end)
		}
	}
}
