package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDetachedConnLeavesTheCount: a body Detach was called on holds no
// slot of its host's pool while it is read: with MaxConnsPerHost 1 and
// that one connection carrying a stream, another request gets a
// connection at once. When the stream ends, its connection is not pooled
// past the limit (the other one holds the slot): the host saw two
// connections, and a third request reuses the pooled one.
func TestDetachedConnLeavesTheCount(t *testing.T) {
	url, accepts := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if strings.HasSuffix(req.URL.Path, "/stream") {
				// Unread until the end of the test: the stream is busy.
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde")
				continue
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := &Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	stream, err := tr.RoundTrip(mustReq(t, "GET", url+"/stream", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !Detach(stream.Body) {
		t.Fatal("Detach did not take the transport's body")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := tr.RoundTrip(mustReq(t, "GET", url+"/plain", "").WithContext(ctx))
	if err != nil {
		t.Fatalf("with the one connection carrying a detached stream, another request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if b, err := io.ReadAll(stream.Body); string(b) != "abcde" || err != nil {
		t.Fatalf("the stream read %q, %v", b, err)
	}
	stream.Body.Close()
	resp, err = tr.RoundTrip(mustReq(t, "GET", url+"/plain", "").WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := accepts.Load(); n != 2 {
		t.Errorf("the host accepted %d connections, want 2", n)
	}
	p := tr.pool(strings.TrimPrefix(url, "http://"))
	p.mu.Lock()
	total, idle := p.total, len(p.idle)
	p.mu.Unlock()
	if total != 1 || idle != 1 {
		t.Errorf("pool: %d conns counted, %d idle; want 1 and 1 (the stream's conn closed, not kept past the limit)", total, idle)
	}
	if Detach(io.NopCloser(nil)) {
		t.Error("Detach took a body of another transport's")
	}
}
