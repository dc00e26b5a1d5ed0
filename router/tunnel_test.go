package router_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// rawSwitchBackend answers any request 101 to protocol "echo", then reads
// the connection to its end and writes back what it read, prefixed by
// "got:", before closing: the answer exists only if the half-close reached
// it and the other direction stayed open.
func rawSwitchBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Backend: yes\r\n\r\n")
				data, _ := io.ReadAll(br)
				_, _ = io.WriteString(c, "got:"+string(data))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestTunnelHalfCloseAndEarlyBytes sends the handshake and the first bytes
// of the new protocol in one write, then half-closes after the 101: the bytes the server
// read with the handshake reach the backend first, the EOF reaches it, and
// its answer still reaches the client, on both listener servers.
func TestTunnelHalfCloseAndEarlyBytes(t *testing.T) {
	rt := (&setup{}).node("svc", rawSwitchBackend(t)).build(t,
		router.Route{Method: "GET", Path: "/x", Service: "svc", Upgrades: []string{"echo"}, Budget: policy})
	for name, base := range listenerServers(t, rt) {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitLimit))
			_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" || resp.Header.Get("X-Backend") != "yes" {
				t.Fatalf("answer = %d %v", resp.StatusCode, resp.Header)
			}
			// Half-closed only now: net/http's server reads a half-close
			// before the answer as the client leaving.
			_ = c.(*net.TCPConn).CloseWrite()
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "got:hello" {
				t.Fatalf("after the switch = %q, %v; want %q", rest, err, "got:hello")
			}
		})
	}
}

// TestTunnelMaxLifetime ends a busy WebSocket with 1001 at its maximum
// lifetime.
func TestTunnelMaxLifetime(t *testing.T) {
	b, _ := wsEcho(t)
	rt := (&setup{opts: router.Options{UpgradeMaxLifetime: 300 * time.Millisecond}}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for {
		if err := c.Write(ctx, websocket.MessageText, []byte("busy")); err != nil {
			break // the tunnel ended: the close frame is next to read
		}
		if _, _, err := c.Read(ctx); err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Fatalf("read ended with %v (code %d), want a close with 1001", err, code)
			}
			return
		}
	}
	wantGoingAway(t, c)
}

// TestTunnelOutlivesTheBudget: the budget bounds the handshake, not the
// switched connection, which still echoes once the budget's deadline and
// every context derived from it have passed.
func TestTunnelOutlivesTheBudget(t *testing.T) {
	b, _ := wsEcho(t)
	short := budget.Policy{Timeout: 100 * time.Millisecond}
	rt := (&setup{}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: short})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// Not a wait for an event: the point is that time passes beyond the
	// budget. Three budgets leave no doubt, whatever the machine's load.
	time.Sleep(3 * short.Timeout)
	if err := c.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "still here" {
		t.Fatalf("echo after the budget = %q, %v", got, err)
	}
}

// TestUpgradeGoesThroughTheRouteMiddleware: auth and rate limits, which
// are route middleware, refuse a handshake before any backend sees it.
func TestUpgradeGoesThroughTheRouteMiddleware(t *testing.T) {
	b, _ := wsEcho(t)
	refuse := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		})
	}
	rt := (&setup{}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy,
			Middleware: []func(http.Handler) http.Handler{refuse}})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial = %v, %v; want a 401", resp, err)
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("the backend saw %d handshakes", n)
	}
}

// TestTunnelsCloseAllSendsGoingAwayToTheBackend: at shutdown the node's end
// of a proxied WebSocket gets a close frame with code 1001 too, which its
// WebSocket library reads as the peer going away (not a broken
// connection), on both listener servers.
func TestTunnelsCloseAllSendsGoingAwayToTheBackend(t *testing.T) {
	ended := make(chan error, 2)
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				ended <- err
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				ended <- err
				return
			}
		}
	})
	tunnels := router.NewTunnels()
	rt := (&setup{opts: router.Options{Tunnels: tunnels}}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var conns []*websocket.Conn
	for _, base := range listenerServers(t, rt) {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		// One echo, so that the backend is in its read loop.
		if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	done := make(chan error, 1)
	go func() { done <- tunnels.CloseAll(ctx) }()
	for _, c := range conns {
		wantGoingAway(t, c)
	}
	for range conns {
		select {
		case err := <-ended:
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Errorf("the backend's read ended with %v (code %d), want a close with 1001", err, code)
			}
		case <-ctx.Done():
			t.Fatal("the backend's connection did not end")
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("CloseAll: %v", err)
	}
}
