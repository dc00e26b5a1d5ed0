package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream"
)

// TestAuditIdleTunnelsLeaveTheNodesPool: the WebSockets open through a
// node do not take its connection pool from the requests. Each tunnel's
// connection to the node kept a slot of the node's pool
// (upstream.DefaultMaxConnsPerNode, 256) for as long as it lived: one
// client (well within its address's share of the client connections)
// opening 256 idle WebSockets, which cost it nothing and live 5 minutes
// idle or 24 hours trickling a byte, left no slot for anything else, and
// every request to the node, plain ones included, waited for one until its
// budget ended: 504. net/http's Transport, likewise, stops counting a
// connection against MaxConnsPerHost once a 101 hands it to the caller.
func TestAuditIdleTunnelsLeaveTheNodesPool(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newUpStack(t, srv.name, srv.config, "", upRoute{slug: "ws", answer: switchOrOK})
		n := upstream.DefaultMaxConnsPerNode
		conns := make([]net.Conn, 0, n+1)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range n {
			c, _, resp := openTunnel(t, s.gw, handshake(fmt.Sprintf("/ws/%d", i)))
			conns = append(conns, c)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake %d of %d: %d, want 101", i+1, n, resp.StatusCode)
			}
		}
		if a, _ := get(t, s.gw, "/ws/plain"); a.status() != http.StatusOK {
			t.Errorf("with %d idle WebSockets open to the node, a plain GET to it got %s, want 200", n, a)
		}
		c, _, resp := openTunnel(t, s.gw, handshake("/ws/one-more"))
		conns = append(conns, c)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("with %d idle WebSockets open to the node, one more handshake got %d, want 101", n, resp.StatusCode)
		}
	})
}

// TestLongStreamsLeaveTheNodesPool: the server-sent event streams open
// through a stream route do not take their node's connection pool from
// the requests either. Each kept its slot of the pool (256 by default) for
// its life, an hour on a stream route: one client opening 256 streams
// left no slot for anything else, and a plain GET to the node, on the
// stream route's own budget of an hour, got no answer at all (a helper's
// audit). A stream's connection now leaves the count once its answer's
// header is in (upstream.Client's freeBody, h1.Detach).
func TestLongStreamsLeaveTheNodesPool(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		answer := func(c net.Conn, req *http.Request) (bool, bool) {
			if strings.Contains(req.RequestURI, "plain") {
				_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				return false, err == nil
			}
			// One event, and the stream stays open.
			_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n7\r\ndata: x\r\n")
			return false, err == nil
		}
		s := newUpStack(t, srv.name, srv.config, "", upRoute{slug: "sse", extra: ", stream: {}", answer: answer})
		n := upstream.DefaultMaxConnsPerNode
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range n {
			c := dial(t, s.gw)
			conns = append(conns, c)
			if _, err := io.WriteString(c, fmt.Sprintf("GET /sse/%d HTTP/1.1\r\nHost: h\r\n\r\n", i)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(hangLimit))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("stream %d of %d: %v, %v; want 200", i+1, n, resp, err)
			}
		}
		if a, x := get(t, s.gw, "/sse/plain"); a.status() != http.StatusOK {
			t.Errorf("with %d event streams open to the node, a plain GET to it got %s, want 200", n, x)
		}
	})
}
