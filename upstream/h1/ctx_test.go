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

// stalling answers the first request of a conn with head, then waits for
// the client to close; later conns get a full answer.
func stalling(head string, got chan<- struct{}) func(net.Conn, *bufio.Reader) {
	first := make(chan struct{}, 1)
	first <- struct{}{}
	return func(nc net.Conn, br *bufio.Reader) {
		select {
		case <-first:
		default:
			keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")(nc, br)
			return
		}
		if _, ok := readRequest(br); !ok {
			return
		}
		io.WriteString(nc, head)
		got <- struct{}{}
		io.Copy(io.Discard, nc) // until the client closes
	}
}

// roundTripAsync runs RoundTrip in a goroutine; its result comes on the
// channel.
func roundTripAsync(rt http.RoundTripper, req *http.Request) <-chan error {
	done := make(chan error, 1)
	go func() {
		resp, err := rt.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("round trip did not return")
		return nil
	}
}

func TestCancelWaitingForHeader(t *testing.T) {
	got := make(chan struct{}, 1)
	url, accepts := rawServer(t, stalling("", got))
	tr, _ := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	done := roundTripAsync(tr, req)
	<-got
	cancel()
	err := wait(t, done)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNothingWritten) {
		t.Fatalf("err %v, want context.Canceled, not ErrNothingWritten", err)
	}
	if code, _ := get(t, tr, url); code != 200 {
		t.Fatal(code)
	}
	if n := accepts.Load(); n != 2 {
		t.Fatalf("%d conns, want 2: the cancelled conn must not be reused", n)
	}
}

func TestDeadlineWaitingForHeader(t *testing.T) {
	got := make(chan struct{}, 1)
	url, _ := rawServer(t, stalling("", got))
	tr, _ := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	err := wait(t, roundTripAsync(tr, req))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ctx.Err()) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
}

func TestDeadlineDuringBody(t *testing.T) {
	// The header must come before the deadline: on a slow machine, try
	// again with a longer one.
	for _, timeout := range []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second} {
		got := make(chan struct{}, 1)
		url, accepts := rawServer(t, stalling("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", got))
		tr, _ := newTransport(t)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := tr.RoundTrip(req)
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatalf("header: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "abc" || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ctx.Err()) {
			t.Fatalf("body %q, err %v; want abc and context.DeadlineExceeded", b, err)
		}
		get(t, tr, url)
		if n := accepts.Load(); n != 2 {
			t.Fatalf("%d conns, want 2", n)
		}
		return
	}
	t.Fatal("no header before the deadline")
}

func TestCancelDuringBody(t *testing.T) {
	got := make(chan struct{}, 1)
	url, _ := rawServer(t, stalling("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", got))
	tr, _ := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := resp.Body.Read(buf); done <- err }()
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	resp.Body.Close()
}

func TestCloseBodyDuringRead(t *testing.T) {
	got := make(chan struct{}, 1)
	url, accepts := rawServer(t, stalling("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", got))
	tr, d := newTransport(t)
	resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	<-got
	b := resp.Body.(*body)
	waitFor(t, "a blocked Read", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.reading && b.left == 7 })
	resp.Body.Close() // unblocks the Read
	if err := wait(t, done); err == nil {
		t.Fatal("Read after a concurrent Close succeeded")
	}
	waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
	get(t, tr, url)
	if n := accepts.Load(); n != 2 {
		t.Fatalf("%d conns, want 2", n)
	}
}

func TestCancelWaitingForSlot(t *testing.T) {
	url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, d := newTransport(t)
	tr.MaxConnsPerHost = 1
	held, err := tr.RoundTrip(mustReq(t, "GET", url, "")) // holds the one conn
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	done := roundTripAsync(tr, req)
	p := tr.pool(strings.TrimPrefix(url, "http://"))
	waitFor(t, "a waiter", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 })
	cancel()
	err = wait(t, done)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNothingWritten) {
		t.Fatalf("err %v, want context.Canceled and ErrNothingWritten", err)
	}
	// A second waiter gets the conn when the first response is done.
	done = roundTripAsync(tr, mustReq(t, "GET", url, ""))
	waitFor(t, "a waiter", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.waiters) == 1 })
	io.ReadAll(held.Body)
	held.Body.Close()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	tr, d := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:1/", nil)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNothingWritten) || d.dials.Load() != 0 {
		t.Fatalf("err %v, %d dials", err, d.dials.Load())
	}
}
