package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestClientsBehindATrustedProxyEachHaveTheirShareOfTunnels: behind a load
// balancer in trusted_proxies, every handshake's peer is the balancer, so
// keyed by the peer alone (as the connection bound must key them) no
// client had a share: one client took all 32 switched places of a gateway
// of 64 connections, and every other client's handshake got 503. Each
// client is charged by the address X-Forwarded-For names, as rate limits
// read it; a request through the balancer that names no other client
// counts under no address, as the balancer's connections do.
func TestClientsBehindATrustedProxyEachHaveTheirShareOfTunnels(t *testing.T) {
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, "trusted_proxies: [127.0.0.1]\n"+configText(upgradeBackend(t), "  - {path: /ws, service: svc}\n"))
			g, front := startGateway(t, cfg, slog.New(slog.DiscardHandler), kind)
			g.connLimits(8, 0) // 4 switched, 1 connection an address, whose share of those is 1
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dial := func(xff string) (int, error) {
				var h http.Header
				if xff != "" {
					h = http.Header{"X-Forwarded-For": {xff}}
				}
				ws, resp, err := websocket.Dial(ctx, "ws://"+front+"/ws", &websocket.DialOptions{HTTPHeader: h})
				if err == nil {
					t.Cleanup(func() { ws.CloseNow() })
				}
				if resp == nil {
					return 0, err
				}
				return resp.StatusCode, err
			}
			if code, err := dial("203.0.113.7"); code != http.StatusSwitchingProtocols {
				t.Fatalf("the first client's WebSocket: %d, %v", code, err)
			}
			if code, _ := dial("203.0.113.7"); code != http.StatusServiceUnavailable {
				t.Errorf("the first client's second WebSocket, past its share of 1: %d, want 503", code)
			}
			if code, err := dial("203.0.113.8"); code != http.StatusSwitchingProtocols {
				t.Errorf("another client through the same balancer: %d, %v; want 101", code, err)
			}
			if code, err := dial(""); code != http.StatusSwitchingProtocols {
				t.Errorf("the balancer's own request (no X-Forwarded-For): %d, %v; want 101", code, err)
			}
		})
	}
}
