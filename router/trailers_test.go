package router_test

import (
	"io"
	"net/http"
	"slices"
	"testing"

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
