package router_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/server"
)

// wsEcho is a WebSocket backend that echoes every message; it records the
// Upgrade field of each handshake it accepts.
func wsEcho(t *testing.T) (*backend, chan string) {
	t.Helper()
	upgrades := make(chan string, 8)
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		upgrades <- r.Header.Get("Upgrade")
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		echoMessages(c)
	})
	return b, upgrades
}

// echoMessages writes every message c reads back to it, until either
// fails.
func echoMessages(c *websocket.Conn) {
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// listenerServers serves h on loopback with each server a route listener
// can use, and returns their base URLs by name.
func listenerServers(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	std := httptest.NewServer(h)
	t.Cleanup(std.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lean := &server.Server{Handler: h}
	go lean.Serve(ln)
	t.Cleanup(func() { lean.Close() })
	return map[string]string{"net/http": std.URL, "sluice": "http://" + ln.Addr().String()}
}

// TestWebSocketThroughARoute echoes messages through a route on both
// listener servers: the handshake's Upgrade field reaches the backend, and
// bytes flow both ways once it answered 101.
func TestWebSocketThroughARoute(t *testing.T) {
	b, upgrades := wsEcho(t)
	for _, name := range []string{"net/http", "sluice"} {
		t.Run(name, func(t *testing.T) {
			// A router and its tunnels of its own: the other server's
			// tunnel may still be closing.
			tunnels := router.NewTunnels()
			s := (&setup{opts: router.Options{Tunnels: tunnels}}).node("chat", b.addr())
			rt := s.build(t, router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
			base := listenerServers(t, rt)[name]
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
			if err != nil {
				t.Fatalf("dial through the gateway: %v", err)
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			if got := <-upgrades; got != "websocket" {
				t.Errorf("the backend saw Upgrade %q", got)
			}
			// Sizes about the tunnel's small copy buffer and past its large
			// one (tunnelbuf.go), each of bytes of its own: a buffer given
			// back to the pool too early would show as another message's.
			rng := rand.New(rand.NewPCG(1, 2))
			for _, size := range []int{3, 3, 2047, 2048, 2049, 100 << 10, 4, 300 << 10, 1} {
				msg := make([]byte, size)
				for i := range msg {
					msg[i] = byte(rng.Uint32())
				}
				if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
					t.Fatal(err)
				}
				_, got, err := c.Read(ctx)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo = %d bytes, %v; want the %d bytes sent", len(got), err, len(msg))
				}
			}
			if n := tunnels.Len(); n != 1 {
				t.Errorf("%d tunnels tracked, want 1", n)
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// TestUpgradeTheRouteDoesNotAllow: an offer to switch to a protocol the
// route does not take is ignored (RFC 9110, section 7.8), and the request
// forwarded as a plain one without it; an Upgrade field without "upgrade"
// in Connection is dropped as hop-by-hop, and the request forwarded as a
// plain one too.
func TestUpgradeTheRouteDoesNotAllow(t *testing.T) {
	b := newBackend(t, nil)
	rt := (&setup{}).node("svc", b.addr()).build(t, router.Route{Method: "GET", Path: "/x", Service: "svc", Budget: policy})
	for _, connection := range []string{"keep-alive, Upgrade", ""} {
		r := httptest.NewRequest("GET", "/x", nil)
		if connection != "" {
			r.Header.Set("Connection", connection)
		}
		r.Header.Set("Upgrade", "h2c")
		if rec := serve(rt, r); rec.Code != http.StatusOK {
			t.Fatalf("Connection %q, Upgrade h2c = %d, want the backend's 200", connection, rec.Code)
		}
		if got := b.last(t).Header.Get("Upgrade"); got != "" {
			t.Errorf("Connection %q: the Upgrade offer reached the backend: %q", connection, got)
		}
	}
}

// TestUpgradeAllowedByTheRoute lets a route allow another protocol, and an
// answer other than 101 is copied as any answer.
func TestUpgradeAllowedByTheRoute(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "no "+r.Header.Get("Upgrade")+" "+r.Header.Get("Connection"))
	})
	rt := (&setup{}).node("svc", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/x", Service: "svc", Upgrades: []string{"Custom"}, Budget: policy})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "custom")
	rec := serve(rt, r)
	if rec.Code != http.StatusForbidden || rec.Body.String() != "no custom Upgrade" {
		t.Fatalf("answer = %d %q", rec.Code, rec.Body)
	}
}

// TestUpgradeToAnotherProtocolThanAsked is a 502: the client asked for one
// protocol and the backend switched to another.
func TestUpgradeToAnotherProtocolThanAsked(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "other")
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	rt := (&setup{}).node("svc", b.addr()).build(t, router.Route{Method: "GET", Path: "/x", Service: "svc", Budget: policy})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", resp.StatusCode)
	}
}

// TestSluiceStreamThroughARoute runs the project's own sluice.stream.v1
// chat through an HTTP route to /rpc/*.
func TestSluiceStreamThroughARoute(t *testing.T) {
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
	b := httptest.NewServer(streams)
	defer b.Close()
	rt := (&setup{}).node("chat", b.Listener.Addr().String()).build(t,
		router.Route{Method: "GET", Path: "/rpc/*", Service: "chat", Budget: policy})
	for name, base := range listenerServers(t, rt) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			st, err := rpc.DialStream(ctx, base+"/rpc/Chat.Echo", rpc.DialOptions{})
			if err != nil {
				t.Fatalf("DialStream through the gateway: %v", err)
			}
			for _, text := range []string{"hello", "again"} {
				if err := st.Send(ctx, map[string]string{"text": text}); err != nil {
					t.Fatal(err)
				}
				var got map[string]string
				if err := st.Recv(ctx, &got); err != nil || got["text"] != text {
					t.Fatalf("Recv = %v, %v", got, err)
				}
			}
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// wantGoingAway waits for c to be closed by the gateway with 1001.
func wantGoingAway(t *testing.T, c *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Fatalf("read ended with %v (code %d), want a close with 1001", err, code)
		}
		return
	}
}

// TestTunnelsCloseAllSendsGoingAway ends open WebSockets with 1001 on
// both listener servers, and refuses none that was already closed.
func TestTunnelsCloseAllSendsGoingAway(t *testing.T) {
	b, _ := wsEcho(t)
	tunnels := router.NewTunnels()
	rt := (&setup{opts: router.Options{Tunnels: tunnels}}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
	var conns []*websocket.Conn
	for _, base := range listenerServers(t, rt) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		conns = append(conns, c)
	}
	waitUntil(t, func() bool { return tunnels.Len() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tunnels.CloseAll(ctx) }()
	for _, c := range conns {
		wantGoingAway(t, c)
	}
	if err := <-done; err != nil {
		t.Fatalf("CloseAll: %v", err)
	}
	if n := tunnels.Len(); n != 0 {
		t.Errorf("%d tunnels left", n)
	}
}

// TestTunnelIdleTimeout ends a WebSocket with 1001 once no byte went either
// way for the idle timeout, whatever the budget of its handshake.
func TestTunnelIdleTimeout(t *testing.T) {
	b, _ := wsEcho(t)
	rt := (&setup{opts: router.Options{UpgradeIdleTimeout: 200 * time.Millisecond}}).node("chat", b.addr()).build(t,
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
	wantGoingAway(t, c)
}

// waitUntil waits until cond holds, failing after waitLimit.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The tunnel is tracked from before its 101 goes out: a shutdown while the
// 101 is being written ends it with a close frame after the 101. Tracked
// only once the 101 was out, such a tunnel was not found by a shutdown in
// between, which let the process exit under a client that had its 101
// (e2e/hostile's TestAuditTunnelShutdown failed so, one run in several).
func TestTunnelTrackedBeforeItsSwitch(t *testing.T) {
	b, _ := wsEcho(t)
	tunnels := router.NewTunnels()
	rt := (&setup{opts: router.Options{Tunnels: tunnels}}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
	client, server := net.Pipe()
	defer client.Close()
	r := httptest.NewRequest("GET", "/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	go rt.ServeHTTP(&pipeHijacker{conn: server, header: http.Header{}}, r)

	// Nothing reads the pipe yet, so the 101 waits to be written.
	waitUntil(t, func() bool { return tunnels.Len() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tunnels.CloseAll(ctx) }()
	br := bufio.NewReader(client)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("the client got %v, %v; want the 101 first", resp, err)
	}
	frame := make([]byte, 4)
	if _, err := io.ReadFull(br, frame); err != nil || !bytes.Equal(frame, []byte{0x88, 0x02, 0x03, 0xe9}) {
		t.Fatalf("after the 101 the client read %x, %v; want a close frame with 1001", frame, err)
	}
	client.Close()
	if err := <-done; err != nil {
		t.Fatalf("CloseAll: %v", err)
	}
}

// pipeHijacker is a ResponseWriter whose connection, one end of a
// net.Pipe, a handler takes with Hijack.
type pipeHijacker struct {
	conn   net.Conn
	header http.Header
}

func (w *pipeHijacker) Header() http.Header         { return w.header }
func (w *pipeHijacker) Write(p []byte) (int, error) { return w.conn.Write(p) }
func (w *pipeHijacker) WriteHeader(int)             {}
func (w *pipeHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}
