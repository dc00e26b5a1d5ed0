package router_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/servertest"
	"github.com/sluicehq/sluice/router"
)

// TestBackendTrailersCrossAsFieldsDo: a backend's trailers reach the client
// under the rules its header fields do, on either listener server: a
// hop-by-hop field (Upgrade, Keep-Alive, Connection), one its Connection
// field names, and one no trailer may carry (Host, Content-Length, RFC 9110
// section 6.5.1) stay behind, declared or not, while an ordinary trailer
// crosses. Package server dropped some of them and net/http's server sent
// every undeclared one, Connection included, to a client or a cache in
// front that may merge them into the header.
func TestBackendTrailersCrossAsFieldsDo(t *testing.T) {
	forbidden := []string{"Upgrade", "Keep-Alive", "Connection", "X-Hop", "Host", "Content-Length"}
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Hop")
		if r.URL.Path == "/declared" {
			// net/http's server declares none of ValidTrailerHeader's
			// forbidden names: those go undeclared below.
			h.Set("Trailer", "X-Sum, Upgrade, Keep-Alive, X-Hop")
		}
		_, _ = io.WriteString(w, "body")
		w.(http.Flusher).Flush() // chunked from here: undeclared trailers follow the body
		for _, k := range forbidden {
			if r.URL.Path == "/declared" && (k == "Upgrade" || k == "Keep-Alive" || k == "X-Hop") {
				h.Set(k, "hostile")
			} else {
				h.Set(http.TrailerPrefix+k, "hostile")
			}
		}
		if r.URL.Path == "/declared" {
			h.Set("X-Sum", "42")
		} else {
			h.Set(http.TrailerPrefix+"X-Sum", "42")
		}
	})
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/*", Service: "svc", Budget: policy})
	for _, srv := range []struct {
		name string
		get  func(*testing.T, http.Handler, string) *http.Response
	}{{"server", serveRaw}, {"net-http", serveNetHTTP}} {
		for _, path := range []string{"/declared", "/undeclared"} {
			t.Run(srv.name+path, func(t *testing.T) {
				resp := srv.get(t, rt, path)
				body, err := io.ReadAll(resp.Body)
				if err != nil || string(body) != "body" {
					t.Fatalf("body %q (%v)", body, err)
				}
				if got := resp.Trailer.Get("X-Sum"); got != "42" {
					t.Errorf("trailer X-Sum %q, want 42 (trailers %v)", got, resp.Trailer)
				}
				for _, k := range forbidden {
					if v, ok := resp.Trailer[k]; ok && slices.Contains(v, "hostile") {
						t.Errorf("the client got the backend's trailer %s %q", k, v)
					}
				}
			})
		}
	}
}

// TestClientTrailersCrossAsFieldsDo: a client's declared trailers reach
// the backend under the rule the backend's do (TestBackendTrailersCrossAsFieldsDo),
// on either listener server, for a body held whole before the forward and
// one streamed past router.MaxReplayBody: Host, Authorization, Content-Type,
// hop-by-hop fields and one the client's Connection field names stay
// behind, where they reached the backend before, for a server that merges
// trailers into the header to believe.
func TestClientTrailersCrossAsFieldsDo(t *testing.T) {
	forbidden := []string{"Host", "Authorization", "Content-Type", "Connection", "Upgrade", "Keep-Alive", "X-Hop"}
	got := make(chan http.Header, 1)
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Trailer.Clone() // the wrapper read the body to its end
	})
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "POST", Path: "/*", Service: "svc", Budget: policy})
	servers := []struct {
		name  string
		start func(testing.TB, http.Handler) string
	}{{"server", servertest.Start}, {"net-http", func(t testing.TB, h http.Handler) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}}}
	for _, srv := range servers {
		addr := srv.start(t, rt)
		for _, size := range []int{2, router.MaxReplayBody + 1} {
			t.Run(fmt.Sprintf("%s/%d", srv.name, size), func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				var req strings.Builder
				req.WriteString("POST /x HTTP/1.1\r\nHost: gw\r\nConnection: X-Hop\r\nTransfer-Encoding: chunked\r\n" +
					"Trailer: X-Sum, " + strings.Join(forbidden, ", ") + "\r\n\r\n")
				fmt.Fprintf(&req, "%x\r\n%s\r\n0\r\nX-Sum: 42\r\n", size, strings.Repeat("b", size))
				for _, k := range forbidden {
					req.WriteString(k + ": hostile\r\n")
				}
				req.WriteString("\r\n")
				go io.WriteString(c, req.String()) // the gateway may answer before it read it all
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("answered %d", resp.StatusCode)
				}
				var tr http.Header
				select {
				case tr = <-got:
				case <-time.After(waitLimit):
					t.Fatal("the backend got no request")
				}
				if v := tr.Get("X-Sum"); v != "42" {
					t.Errorf("the backend got trailer X-Sum %q, want 42 (trailers %v)", v, tr)
				}
				for _, k := range forbidden {
					if v := tr.Values(k); slices.Contains(v, "hostile") {
						t.Errorf("the backend got the client's trailer %s %q", k, v)
					}
				}
			})
		}
	}
}
