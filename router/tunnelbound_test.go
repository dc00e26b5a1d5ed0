package router_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/server"
)

// wsRoute serves, on a server of the test's, a router of one route, /ws,
// to b, its switched connections tracked by tunnels: it returns the
// route's ws:// URL, and a context that bounds the test's waits.
func wsRoute(t *testing.T, b *backend, tunnels *router.Tunnels) (string, context.Context) {
	t.Helper()
	rt := (&setup{opts: router.Options{Tunnels: tunnels}}).node("chat", b.addr()).build(t,
		router.Route{Method: "GET", Path: "/ws", Service: "chat", Budget: policy})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", ctx
}

// With room for one switched connection (Tunnels.SetMax), a second
// handshake is answered 503 overloaded, with Retry-After, while the first
// tunnel lasts, and switches once it has ended: the place is given back.
func TestAHandshakePastTheTunnelBoundIsRefusedUntilAPlaceIsFree(t *testing.T) {
	b, upgrades := wsEcho(t)
	tunnels := router.NewTunnels()
	tunnels.SetMax(1)
	url, ctx := wsRoute(t, b, tunnels)

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

// dialFrom returns options that make a WebSocket handshake's connection
// from the local address ip.
func dialFrom(ip string) *websocket.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
}

// With room for 8 switched connections and 2 an address
// (Tunnels.SetMaxPerAddress), an address holding 2 tunnels has its third
// handshake answered 503 overloaded, with Retry-After, before it reaches
// the backend, while another address switches, and an address the key
// exempts (a trusted proxy's) is bound by the whole only; a place the
// first address frees is its own again, and once every tunnel has ended
// no place is held.
func TestAHandshakePastItsAddressShareIsRefusedWhileOtherAddressesSwitch(t *testing.T) {
	b, upgrades := wsEcho(t)
	tunnels := router.NewTunnels()
	tunnels.SetMax(8)
	exempt := func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.3") }
	tunnels.SetMaxPerAddress(2, func(r *http.Request) (netip.Prefix, bool) { return server.ClientKey(r.RemoteAddr, exempt) })
	url, ctx := wsRoute(t, b, tunnels)
	var conns []*websocket.Conn
	open := func(ip string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, url, dialFrom(ip))
		if err != nil {
			t.Fatalf("a handshake from %s: %v", ip, err)
		}
		<-upgrades
		conns = append(conns, c)
		return c
	}
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()

	first := open("127.0.0.1")
	open("127.0.0.1")
	_, resp, err := websocket.Dial(ctx, url, dialFrom("127.0.0.1"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a third handshake of an address with 2 tunnels: %v, %v; want 503 with Retry-After: 1", resp, err)
	}
	select {
	case <-upgrades:
		t.Fatal("the refused handshake reached the backend")
	default:
	}
	open("127.0.0.2")
	for range 3 {
		open("127.0.0.3")
	}
	if got := tunnels.Places(); got != 6 {
		t.Errorf("%d places taken by 6 tunnels", got)
	}

	first.Close(websocket.StatusNormalClosure, "")
	waitUntil(t, func() bool { return tunnels.Places() == 5 })
	open("127.0.0.1")
	for _, c := range conns {
		c.CloseNow()
	}
	waitUntil(t, func() bool { return tunnels.Places() == 0 })
}

// placesBackend is a WebSocket backend that, by the path's last segment,
// echoes (echo), switches and closes at once (close), answers 403
// (refuse), or waits for the gateway to give up on the handshake (slow),
// telling slow of it.
func placesBackend(t *testing.T, slow chan<- struct{}) *backend {
	return newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch path.Base(r.URL.Path) {
		case "refuse":
			w.WriteHeader(http.StatusForbidden)
			return
		case "slow":
			slow <- struct{}{}
			<-r.Context().Done()
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if path.Base(r.URL.Path) == "close" {
			c.Close(websocket.StatusNormalClosure, "the node leaves")
			return
		}
		echoMessages(c)
	})
}

// A place (Tunnels.take) is given back, the whole's and its address's,
// however the handshake or its tunnel ends: the client closes, the node
// closes, the tunnel goes idle or lives its maximum lifetime, the node
// refuses the switch or cannot be reached, the client leaves during the
// handshake, the router is replaced (a reload: the tunnel keeps its place
// until it ends), the gateway shuts down (CloseAll). A place lost would
// shrink the bound for good. With room for 2 and 1 an address, the
// address switches again after each; on both listener servers.
func TestEveryWayATunnelEndsGivesItsPlacesBack(t *testing.T) {
	deadAddr := closedAddr(t)
	slow := make(chan struct{}, 1)
	b := placesBackend(t, slow)
	for _, name := range []string{"net/http", "sluice"} {
		t.Run(name, func(t *testing.T) {
			tunnels := router.NewTunnels()
			tunnels.SetMax(2)
			tunnels.SetMaxPerAddress(1, func(r *http.Request) (netip.Prefix, bool) { return server.ClientKey(r.RemoteAddr, nil) })
			build := func(opts router.Options) *router.Router {
				opts.Tunnels = tunnels
				return (&setup{opts: opts}).node("chat", b.addr()).node("gone", deadAddr).build(t,
					router.Route{Method: "GET", Path: "/ws/*", Service: "chat", Budget: policy},
					router.Route{Method: "GET", Path: "/gone", Service: "gone", Budget: policy})
			}
			var cur atomic.Pointer[router.Router]
			cur.Store(build(router.Options{}))
			base := listenerServers(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cur.Load().ServeHTTP(w, r)
			}))[name]
			url := "ws" + strings.TrimPrefix(base, "http")
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			open := func(target string) *websocket.Conn {
				t.Helper()
				c, _, err := websocket.Dial(ctx, url+target, nil)
				if err != nil {
					t.Fatalf("a handshake for %s: %v", target, err)
				}
				t.Cleanup(func() { c.CloseNow() })
				return c
			}
			refused := func(target string, want int) {
				t.Helper()
				if _, resp, err := websocket.Dial(ctx, url+target, nil); err == nil || resp == nil || resp.StatusCode != want {
					t.Fatalf("a handshake for %s: %v, %v; want %d", target, resp, err, want)
				}
			}
			given := func(how string) {
				t.Helper()
				waitUntil(t, func() bool { return tunnels.Places() == 0 })
				open("/ws/echo").CloseNow() // the address's place is its own again
				waitUntil(t, func() bool { return tunnels.Places() == 0 })
				t.Logf("%s: places given back", how)
			}

			open("/ws/echo").Close(websocket.StatusNormalClosure, "")
			given("the client closes")

			c := open("/ws/close")
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Fatalf("the client read %v, want the node's close", err)
			}
			c.CloseNow()
			given("the node closes")

			// The gateway ends the tunnel with 1001: the client answers it
			// at once, where it might wait closeGrace.
			goneAway := func(c *websocket.Conn) {
				t.Helper()
				if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
					t.Errorf("the client read %v, want 1001", err)
				}
			}
			cur.Store(build(router.Options{UpgradeIdleTimeout: 50 * time.Millisecond}))
			goneAway(open("/ws/echo"))
			given("the tunnel goes idle")

			cur.Store(build(router.Options{UpgradeMaxLifetime: 50 * time.Millisecond}))
			goneAway(open("/ws/echo"))
			given("the tunnel lives its maximum lifetime")

			cur.Store(build(router.Options{}))
			refused("/ws/refuse", http.StatusForbidden)
			given("the node refuses the switch")

			refused("/gone", http.StatusBadGateway)
			given("the node cannot be reached")

			hctx, hcancel := context.WithCancel(ctx)
			go func() {
				<-slow
				hcancel()
			}()
			if _, _, err := websocket.Dial(hctx, url+"/ws/slow", nil); err == nil {
				t.Fatal("a handshake the client gave up on switched")
			}
			given("the client leaves during the handshake")

			c = open("/ws/echo")
			cur.Store(build(router.Options{}))
			refused("/ws/echo", http.StatusServiceUnavailable) // the address's place is still the tunnel's
			c.Close(websocket.StatusNormalClosure, "")
			given("the router is replaced")

			c = open("/ws/echo")
			read := make(chan struct{})
			go func() {
				defer close(read)
				goneAway(c)
			}()
			if err := tunnels.CloseAll(ctx); err != nil {
				t.Fatal(err)
			}
			<-read
			if n := tunnels.Places(); n != 0 {
				t.Errorf("the gateway shut down: %d places held", n)
			}
		})
	}
}
