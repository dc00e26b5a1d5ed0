package hostile

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The request body bound audit: a route's max_body_bytes is the most a
// client may upload through it. Clients that send more, declared or
// chunked, held whole or streamed past the held start, get 413 and never
// turn the node against the others: the route's breaker stays closed with
// the defaults, however many of them come.

// maxBodyYAML is a gateway on server whose HTTP route /up/* takes bodies
// of at most 100,000 bytes and whose RPC route /rpc at most 2,000.
func maxBodyYAML(backend *echoBackend, server string) string {
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	staticYAML(&b, "svc", backend)
	b.WriteString("routes:\n  - {name: up, method: POST, path: /up/*, service: svc, max_body_bytes: 100000}\n")
	b.WriteString("  - {name: rpc, method: POST, path: /rpc, service: svc, endpoint: Svc.Echo, max_body_bytes: 2000}\n")
	return b.String()
}

// TestBodiesOverTheirRoutesBoundAreRefusedAndBlameNobody sends, on each
// listener server, bodies over the route's bound: declared (refused before
// any node), chunked within the held start, and chunked past it (the
// node's request cut), 60 of the last; each is answered 413 problem+json.
// Then bodies of the bound pass whole, which a breaker opened by the cut
// requests (5 failures of 10 calls open it by default) would refuse.
func TestBodiesOverTheirRoutesBoundAreRefusedAndBlameNobody(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		backend := newEchoBackend(t)
		_, addrs := startWith(t, maxBodyYAML(backend, srv.config))
		// Keep-alive, as browsers' and curl's: net/http's server reads
		// nothing of a body left unread by a request that asked to close,
		// and closes at once, which resets the connection of a client
		// still sending and can beat the answer to it (its own behaviour
		// with any handler that refuses a body; the lean server lingers).
		client := &http.Client{Timeout: hangLimit}
		post := func(path string, n int, chunked bool, fill string) (*http.Response, string) {
			t.Helper()
			var body io.Reader = strings.NewReader(strings.Repeat(fill, n))
			if chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, err := http.NewRequest("POST", "http://"+addrs[0]+path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("POST %s, %d bytes (chunked %v): %v", path, n, chunked, err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("POST %s: reading the answer: %v", path, err)
			}
			return resp, string(got)
		}
		refused := func(path string, n int, chunked bool) {
			t.Helper()
			resp, body := post(path, n, chunked, "x")
			if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s, %d bytes (chunked %v): %d %s %s, want 413 problem+json", path, n, chunked,
					resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}

		refused("/up/declared", 100001, false)
		// A client that declares 10 MiB and is still sending reads its
		// 413 (an http.Client does not read while it writes: raw).
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(hangLimit))
		fmt.Fprintf(c, "POST /up/declared HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 10<<20)
		if _, err := c.Write(make([]byte, 200<<10)); err != nil {
			t.Fatalf("writing the start of a 10 MiB body: %v", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("10 MiB declared, 200 KiB sent: %v %v, want 413", resp, err)
		}
		refused("/rpc", 2001, false)
		refused("/rpc", 5000, true)
		if got := backend.matching("/up/declared"); len(got) != 0 {
			t.Errorf("the node got %d requests whose declared body it could never take", len(got))
		}
		for range 60 {
			refused("/up/streamed", 300000, true)
		}
		for _, s := range backend.complete("/up/streamed") {
			t.Errorf("the node read a whole body of %d bytes over the bound", len(s.Body))
		}

		for _, chunked := range []bool{false, true} {
			resp, _ := post("/up/whole", 100000, chunked, "y")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Body-Len") != "100000" {
				t.Fatalf("a body of the bound (chunked %v): %d, the node read %q bytes", chunked, resp.StatusCode, resp.Header.Get("X-Body-Len"))
			}
		}
	})
}

// TestBodiesOverTheirRoutesBoundAreRefusedOverHTTP2 sends the same bodies
// over HTTP/2 (h2c, prior knowledge, net/http's server), on one
// connection: each over the bound is answered 413 on its stream, the
// connection serving on, and a body of the bound passes whole.
func TestBodiesOverTheirRoutesBoundAreRefusedOverHTTP2(t *testing.T) {
	backend := newEchoBackend(t)
	config := strings.Replace(maxBodyYAML(backend, "net/http"), "server: \"net/http\"}", "server: \"net/http\", h2c: true}", 1)
	if !strings.Contains(config, "h2c: true") {
		t.Fatalf("no h2c listener in %s", config)
	}
	_, addrs := startWith(t, config)
	var dials atomic.Int32
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{Timeout: hangLimit}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: hangLimit}
	post := func(path string, n int, chunked bool) (int, string) {
		t.Helper()
		var body io.Reader = strings.NewReader(strings.Repeat("y", n))
		if chunked {
			body = io.MultiReader(body)
		}
		resp, err := client.Post("http://"+addrs[0]+path, "text/plain", body)
		if err != nil {
			t.Fatalf("POST %s, %d bytes: %v", path, n, err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d.%d, want HTTP/2", resp.ProtoMajor, resp.ProtoMinor)
		}
		return resp.StatusCode, resp.Header.Get("X-Body-Len")
	}
	for _, tc := range []struct {
		path    string
		n       int
		chunked bool
	}{{"/up/a", 100001, false}, {"/up/b", 300000, true}, {"/up/c", 10 << 20, false}, {"/rpc", 2001, true}} {
		if code, _ := post(tc.path, tc.n, tc.chunked); code != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s, %d bytes (no length %v): %d, want 413", tc.path, tc.n, tc.chunked, code)
		}
	}
	if code, n := post("/up/whole", 100000, true); code != http.StatusOK || n != "100000" {
		t.Errorf("a body of the bound: %d, the node read %q bytes", code, n)
	}
	if d := dials.Load(); d != 1 {
		t.Errorf("%d connections, want the one: a refused stream must not cost its connection", d)
	}
}
