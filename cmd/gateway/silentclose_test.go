package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// crossingBackend is a node that keeps no connection alive without saying
// so: it answers a connection's first request with a keep-alive answer
// (no "Connection: close"), and closes the connection, with a reset, when
// a second request arrives on it, reading none of it: its close crossed
// the request on the wire, as a server's close right after its answer
// does on a busy pool. It counts the requests it answered and the ones
// it dropped so.
func crossingBackend(t *testing.T) (addr string, answered, dropped *atomic.Int64) {
	t.Helper()
	answered, dropped = new(atomic.Int64), new(atomic.Int64)
	addr = rawNode(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
		answered.Add(1)
		if _, err := br.Peek(1); err != nil {
			return // closed by the client
		}
		dropped.Add(1)
		_ = c.(*net.TCPConn).SetLinger(0) // a reset: the request was not read
	})
	return addr, answered, dropped
}

// POSTs through a gateway with the defaults, one after another, to a node
// that closes each connection after its answer without saying so, its
// close crossing the next request sent on the connection
// (crossingBackend). A GET that crosses so is sent again on a fresh
// connection, but a POST cannot be (the node may have read it): each
// failed with 502 may-have-been-processed, every POST the gateway sent on
// a connection it had used before, 50 of 100, on a node that never failed
// a request it read. (Among healthy nodes, such a node also drew few
// requests: each failure made selection shun it for seconds.) Now the first
// close found teaches the gateway that the node closes its connections
// early, and its POSTs go on fresh connections: one failure, the one it
// learns from.
func TestASilentCloserFailsNoPOST(t *testing.T) {
	bad, answered, dropped := crossingBackend(t)
	addr := gatewayOver(t, `path: /x, method: "*"`, bad)

	c := &http.Client{Timeout: waitLimit}
	send := func(method string, n int) (failed int) {
		for range n {
			req, _ := http.NewRequest(method, "http://"+addr+"/x", strings.NewReader(`{"n":1}`))
			resp, err := c.Do(req)
			if err != nil {
				failed++
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != "ok" {
				failed++
			}
		}
		return failed
	}
	gets := send(http.MethodGet, 20) // crossed GETs are sent again
	posts := send(http.MethodPost, 100)
	t.Logf("%d of 20 GETs and %d of 100 POSTs failed; the node answered %d, dropped %d on reused connections",
		gets, posts, answered.Load(), dropped.Load())
	if gets > 0 {
		t.Errorf("%d of 20 GETs failed, want none", gets)
	}
	if posts > 1 {
		t.Errorf("%d of 100 POSTs failed, want at most the one the gateway learns from", posts)
	}
}
