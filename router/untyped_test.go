package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/proxytest"
	"github.com/sluicehq/sluice/router"
)

// TestUntypedAnswerStaysUntyped: an answer the backend sent without a
// Content-Type reaches the client without one, on package server (the
// backend's header adopted, or copied into the map the edge made first)
// and on net/http's server, over HTTP/1.1 and h2c, which would all sniff
// one from the body otherwise: an untyped user upload marked nosniff would have become
// text/html. A typed answer keeps its type, and an empty Content-Type
// stays empty.
func TestUntypedAnswerStaysUntyped(t *testing.T) {
	const page = "<html><script>alert(document.cookie)</script></html>"
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/untyped":
			h["Content-Type"] = nil // net/http sends none, and sniffs none
			h.Set("X-Content-Type-Options", "nosniff")
		case "/typed":
			h.Set("Content-Type", "application/octet-stream")
		case "/empty":
			h.Set("Content-Type", "")
		}
		_, _ = io.WriteString(w, page)
	})
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/*", Service: "svc", Budget: policy})
	edge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Edge", "1") // the answer's fields are copied, not adopted
		rt.ServeHTTP(w, r)
	})
	h2c := func(t *testing.T, h http.Handler, path string) *http.Response {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv := httptest.NewUnstartedServer(h)
		srv.Config.Protocols = &p
		srv.Start()
		t.Cleanup(srv.Close)
		tr := &http.Transport{Protocols: &p}
		t.Cleanup(tr.CloseIdleConnections)
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.ProtoMajor != 2 {
			t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
		}
		return resp
	}
	for _, tc := range []struct {
		name  string
		get   func(*testing.T, http.Handler, string) *http.Response
		h     http.Handler
		path  string
		typ   []string // nil: no Content-Type field at all
		typed bool
	}{
		{"server/adopted/untyped", serveRaw, rt, "/untyped", nil, false},
		{"server/copied/untyped", serveRaw, edge, "/untyped", nil, false},
		{"net-http/untyped", serveNetHTTP, rt, "/untyped", nil, false},
		{"net-http-h2c/untyped", h2c, rt, "/untyped", nil, false},
		{"server/adopted/typed", serveRaw, rt, "/typed", []string{"application/octet-stream"}, true},
		{"server/copied/typed", serveRaw, edge, "/typed", []string{"application/octet-stream"}, true},
		{"net-http/typed", serveNetHTTP, rt, "/typed", []string{"application/octet-stream"}, true},
		{"net-http-h2c/typed", h2c, rt, "/typed", []string{"application/octet-stream"}, true},
		{"server/adopted/empty", serveRaw, rt, "/empty", []string{""}, true},
		{"net-http/empty", serveNetHTTP, rt, "/empty", []string{""}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.get(t, tc.h, tc.path)
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != page {
				t.Fatalf("answer %d %q (%v), want 200 and the page", resp.StatusCode, body, err)
			}
			got, typed := resp.Header["Content-Type"]
			if typed != tc.typed || len(got) != len(tc.typ) || len(got) == 1 && got[0] != tc.typ[0] {
				t.Errorf("Content-Type %q (present %v), want %q (present %v)", got, typed, tc.typ, tc.typed)
			}
		})
	}
}

// serveNetHTTP serves h with net/http's server and returns the answer to
// one GET of path.
func serveNetHTTP(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestNoContentAnswerCarriesNoLength: a backend's 304 that carries the
// Content-Length of the representation it did not send (RFC 9110, section
// 8.6, allows it), and a 204 that carries one anyway, reach the client
// whole on every listener server, HTTP/2 included, where net/http's
// HTTP/2 server sent the length and the client found the stream 7 bytes
// short.
func TestNoContentAnswerCarriesNoLength(t *testing.T) {
	node := proxytest.NewNode(t)
	edges := proxytest.Edges(t, newTransparentRouter(t, node.Addr(), "GET"))
	for _, status := range []int{http.StatusNoContent, http.StatusNotModified} {
		node.Set(&proxytest.Answer{Status: status, Fields: [][2]string{{"Etag", `"v1"`}}, Body: []byte("ignored")})
		for _, e := range edges {
			resp, err := e.Client.Get(e.URL)
			if err != nil {
				t.Fatalf("%d on %s: %v", status, e.Name, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || len(body) > 0 || resp.StatusCode != status || resp.Header.Get("Etag") != `"v1"` {
				t.Errorf("%d on %s: got %d, ETag %q, body %q (%v)", status, e.Name, resp.StatusCode, resp.Header.Get("Etag"), body, err)
			}
		}
	}
}
