package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A server may answer an upload before reading it (a 413 to a body over
// its limit, a 401 to an unauthenticated POST) and close the connection
// with the body unread, which resets it. The answer came first and is in
// the conn's receive queue: the round trip must return it, not fail on the
// write the reset broke (a 502 blamed on the node, at the gateway). The
// buffers of both ends are made small so that the write is still under way
// when the reset comes, every time: the node's receive buffer (set on its
// listener, so that its first window is small too) and the client's send
// buffer.

// earlyAnswerNode is a node whose every conn has its request head read (and
// at most 512 bytes of its body), then gets answer, if any, and is closed
// with the rest of the body unread. It returns the "http://addr" URL.
func earlyAnswerNode(t *testing.T, answer string) string {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReaderSize(nc, 512)); err != nil {
					return
				}
				io.WriteString(nc, answer)
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// smallSendBuffer dials with a small send buffer.
func smallSendBuffer(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		err = nc.(*net.TCPConn).SetWriteBuffer(2048)
	}
	return nc, err
}

func TestEarlyAnswerToAnUploadIsReturned(t *testing.T) {
	const answer = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!"
	for _, tc := range []struct {
		name string
		size int
	}{{"inline", 60 << 10}, {"fallback", 1 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Transport{DialContext: smallSendBuffer}
			t.Cleanup(tr.CloseIdleConnections)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range 10 {
				url := earlyAnswerNode(t, answer)
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(make([]byte, tc.size)))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("%d: %v; want the node's 413", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 413 || string(b) != "big!" || err != nil {
					t.Fatalf("%d: %d %q %v, want 413 \"big!\"", i, resp.StatusCode, b, err)
				}
			}
			// A node that resets the conn without answering fails the
			// round trip, at once.
			url := earlyAnswerNode(t, "")
			req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(make([]byte, tc.size)))
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("no answer: got %d, want an error", resp.StatusCode)
			}
			if ctx.Err() != nil {
				t.Fatalf("no answer: %v, want the reset's error before the context's end", err)
			}
		})
	}
}
