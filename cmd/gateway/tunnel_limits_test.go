package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// limits.tunnel_idle_timeout reaches the router: a WebSocket that carries
// nothing is ended with 1001 long before the 5m default. The request is
// logged with status 101 once the tunnel is over, as the Recorder saw the
// hijack.
func TestTunnelLimitsAndAccessLogStatus(t *testing.T) {
	backend := upgradeBackend(t)
	text := "limits: {tunnel_idle_timeout: 100ms}\n" + configText(backend, "  - {path: /ws, service: svc, upgrades: [websocket]}\n")
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, text)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stdout := newLogBuffer()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", path}, stdout, io.Discard, make(chan os.Signal, 1)) }()
	stdout.waitFor(t, "gateway ready", 1)
	front := stdout.waitFor(t, "listening", 2)[0]["address"].(string)

	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(wctx, "ws://"+front+"/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket through the gateway: %v", err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(wctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("idle WebSocket ended with %v, want a close with 1001 from the idle timeout", err)
	}
	var logged bool
	for _, l := range stdout.waitFor(t, "request", 1) {
		if l["path"] == "/ws" {
			logged = true
			if l["status"] != float64(101) {
				t.Errorf("the tunnel's request was logged with status %v, want 101", l["status"])
			}
		}
	}
	if !logged {
		t.Errorf("no request line for /ws; log:\n%s", stdout.String())
	}
	stop()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-wctx.Done():
		t.Fatal("the gateway did not stop")
	}
}
