package hostile

import (
	"fmt"
	"net"
	"net/http"
	"testing"

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
