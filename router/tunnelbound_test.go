package router_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/router"
)

// With room for one switched connection (Tunnels.SetMax), a second
// handshake is answered 503 overloaded, with Retry-After, while the first
// tunnel lasts, and switches once it has ended: the place is given back.
func TestAHandshakePastTheTunnelBoundIsRefusedUntilAPlaceIsFree(t *testing.T) {
	b, upgrades := wsEcho(t)
	tunnels := router.NewTunnels()
	tunnels.SetMax(1)
	rt := (&setup{opts: router.Options{Tunnels: tunnels}}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	first, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-upgrades
	_, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second handshake with the one place taken: %v, %v; want 503 with Retry-After", resp, err)
	}
	select {
	case <-upgrades:
		t.Fatal("the refused handshake reached the backend")
	default:
	}

	first.Close(websocket.StatusNormalClosure, "")
	waitUntil(t, func() bool { return tunnels.Len() == 0 })
	third, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("a handshake once the tunnel ended: %v", err)
	}
	third.CloseNow()
}
