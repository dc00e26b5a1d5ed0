package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/rpc"
)

// upgradeBackend serves upgradeHandler and returns its address.
func upgradeBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(upgradeHandler())
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// upgradeHandler serves a WebSocket echo at /ws and a sluice.stream.v1
// chat, Chat.Echo, at /rpc/Chat.Echo.
func upgradeHandler() http.Handler {
	streams := rpc.NewStreamServer()
	rpc.RegisterStream(streams, "Chat.Echo", func(ctx context.Context, st *rpc.ServerStream) error {
		for {
			var m map[string]string
			if err := st.Recv(ctx, &m); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := st.Send(ctx, m); err != nil {
				return err
			}
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/rpc/", streams)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	})
	return mux
}

// TestWebSocketsSurviveReloadAndEndWith1001 runs the whole command with
// each route listener server: a WebSocket echo and a sluice.stream.v1 chat
// go through routes, keep working across a reload, and end with 1001 when
// the gateway shuts down, after the drain.
func TestWebSocketsSurviveReloadAndEndWith1001(t *testing.T) {
	for _, server := range []string{"", config.ServerNetHTTP} {
		t.Run("server="+server, func(t *testing.T) { testWebSocketsSurviveReload(t, server) })
	}
}

// echoBoth sends msg on the WebSocket ws and on the stream st, to
// upgradeHandler's echoes, and checks that each comes back.
func echoBoth(t *testing.T, ctx context.Context, ws *websocket.Conn, st *rpc.ClientStream, msg string) {
	t.Helper()
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.Read(ctx); err != nil || string(got) != msg {
		t.Fatalf("WebSocket echo = %q, %v", got, err)
	}
	if err := st.Send(ctx, map[string]string{"text": msg}); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := st.Recv(ctx, &got); err != nil || got["text"] != msg {
		t.Fatalf("stream echo = %v, %v", got, err)
	}
}

func testWebSocketsSurviveReload(t *testing.T, server string) {
	backend := upgradeBackend(t)
	text := configText(backend, "  - {path: /ws, service: svc}\n  - {path: /rpc/*, service: svc}\n")
	if server != "" {
		text = strings.Replace(text, `listeners: [{address: "127.0.0.1:0"}]`,
			`listeners: [{address: "127.0.0.1:0", server: "`+server+`"}]`, 1)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, text)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stdout := newLogBuffer()
	reload := make(chan os.Signal, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", path}, stdout, io.Discard, reload) }()
	stdout.waitFor(t, "gateway ready", 1)
	front := stdout.waitFor(t, "listening", 2)[0]["address"].(string)

	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(wctx, "ws://"+front+"/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket through the gateway: %v", err)
	}
	defer ws.CloseNow()
	st, err := rpc.DialStream(wctx, "http://"+front+"/rpc/Chat.Echo", rpc.DialOptions{})
	if err != nil {
		t.Fatalf("sluice.stream.v1 through the gateway: %v", err)
	}
	echoBoth(t, wctx, ws, st, "before")
	reload <- syscall.SIGHUP
	stdout.waitFor(t, "configuration reloaded", 1)
	echoBoth(t, wctx, ws, st, "after the reload")

	stop() // as SIGTERM does
	if _, _, err := ws.Read(wctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("WebSocket ended with %v, want a close with 1001", err)
	}
	var se *rpc.StreamError
	if err := st.Recv(wctx, new(map[string]string)); !errors.As(err, &se) || se.Code != 1001 {
		t.Errorf("stream ended with %v, want a close with 1001", err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-wctx.Done():
		t.Fatal("the gateway did not stop")
	}
	stdout.waitFor(t, "closing proxied connections", 1)
}
