package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A node may answer an upload before reading it, and close with the body
// unread (a 413 over its limit, a 401 to an unauthenticated POST): the
// close resets the connection, and the gateway's write of the body failed
// on it, about half the time on loopback, for bodies past the 4 KiB the
// node's reader took. The gateway answered 502 may-have-been-processed,
// blamed the node (its breaker, its weight in selection) for the client's
// upload, and on an idempotent route sent the body to the next node too.
// The node's answer was in the connection's receive queue all along:
// upstream/h1 now reads it after such a write failure, on its own path
// (bodies held, up to 64 KiB) and on its fallback's (larger ones);
// TestEarlyAnswerToAnUploadIsReturned makes the reset come mid-write every
// time, this one takes each size through each listener server 6 times.
func TestEarlyAnswerToAnUploadReachesTheClient(t *testing.T) {
	const answer = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!"
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			var conns atomic.Int32
			serve := func(c net.Conn, r *http.Request) {
				conns.Add(1)
				io.WriteString(c, answer)
			}
			nodes := []string{rawBackend(t, serve), rawBackend(t, serve)}
			cfg, _ := loadFile(t, "listeners: [{address: \"127.0.0.1:0\"}]\nregistry:\n  static:\n"+
				"    - {service: svc, address: \""+nodes[0]+"\"}\n    - {service: svc, address: \""+nodes[1]+"\"}\n"+
				"routes:\n  - {method: POST, path: /up, service: svc, idempotent: true}\n")
			logger, logs := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			for _, size := range []int{16 << 10, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1 << 20} {
				for i := range 6 {
					conns.Store(0)
					resp, b, err := uploadReadingEarly(addr, size)
					if err != nil {
						t.Fatalf("%d bytes, %d: %v", size, i, err)
					}
					if got := fmt.Sprintf("%d %s, %d sent", resp.StatusCode, b, conns.Load()); got != "413 big!, 1 sent" {
						t.Fatalf("%d bytes, %d: %s; want 413 big!, 1 sent; log:\n%s", size, i, got, logs.String())
					}
				}
			}
		})
	}
}

// uploadReadingEarly POSTs size bytes to addr/up and reads the answer while
// the body is still being written, as a client that reads an early answer
// does: the gateway answers the node's 413 and closes without reading the
// rest, and a client that wrote first and read after (Go's http.Client,
// now and then) failed on its own write to the closed connection, the
// answer unread. A write's failure is ignored here; the answer is what is
// checked.
func uploadReadingEarly(addr string, size int) (*http.Response, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	done := make(chan struct{})
	go func() {
		defer close(done)
		head := fmt.Sprintf("POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
		_, _ = io.Copy(c, io.MultiReader(bytes.NewReader([]byte(head)), bytes.NewReader(make([]byte, size))))
	}()
	defer func() { c.Close(); <-done }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b, err
}
