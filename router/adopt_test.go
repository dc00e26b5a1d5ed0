package router_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/servertest"
	"github.com/sluicehq/sluice/router"
)

// serveRaw serves h with package server, the gateway's, and returns the
// answer to one GET of path, as a client reads it off the wire.
func serveRaw(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	addr := servertest.Start(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: gw\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// adoptSpy passes AdoptHeader on to the writer it wraps and notes whether
// that writer took the header.
type adoptSpy struct {
	http.ResponseWriter
	tried, took bool
}

func (s *adoptSpy) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *adoptSpy) AdoptHeader(h http.Header) bool {
	s.tried = true
	s.took = s.ResponseWriter.(interface{ AdoptHeader(http.Header) bool }).AdoptHeader(h)
	return s.took
}

// TestAnswerHeaderUnderServer: behind package server, whose writer takes
// the backend's header map as the answer's when the edge set no field
// (AdoptHeader), the answer's hop-by-hop fields and those its Connection
// names stay behind as they do when the fields are copied into a map the
// edge made first; the edge's fields are kept, and Vary's values added.
func TestAnswerHeaderUnderServer(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Backend-Hop, x-other")
		h.Set("X-Backend-Hop", "1")
		h.Set("X-Other", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Upgrade", "h2c")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("X-Backend-Kept", "1")
		h.Set("Vary", "Accept")
		h.Set("X-Edge", "backend")
	})
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: policy})
	for _, tc := range []struct {
		name string
		edge bool // a layer in front sets fields first: they are copied
	}{
		{"adopted", false},
		{"copied", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := &adoptSpy{}
			served := make(chan struct{}) // the spy is written
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(served)
				if tc.edge {
					w.Header().Set("X-Edge", "edge")
					w.Header().Set("Vary", "Origin")
				}
				spy.ResponseWriter = w
				rt.ServeHTTP(spy, r)
			})
			resp := serveRaw(t, h, "/a")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answer %d", resp.StatusCode)
			}
			if _, err := io.ReadAll(resp.Body); err != nil {
				t.Fatal(err)
			}
			<-served
			if !spy.tried || spy.took == tc.edge {
				t.Errorf("AdoptHeader tried %v, taken %v; want tried, and taken %v", spy.tried, spy.took, !tc.edge)
			}
			for _, f := range []string{"Connection", "X-Backend-Hop", "X-Other", "Keep-Alive", "Upgrade",
				"Proxy-Authenticate", "Proxy-Connection"} {
				if v, ok := resp.Header[f]; ok {
					t.Errorf("the client received hop-by-hop field %s: %q", f, v)
				}
			}
			if got := resp.Header.Get("X-Backend-Kept"); got != "1" {
				t.Errorf("X-Backend-Kept %q, want 1: %v", got, resp.Header)
			}
			wantEdge, wantVary := "backend", []string{"Accept"}
			if tc.edge {
				wantEdge, wantVary = "edge", []string{"Origin", "Accept"}
			}
			if got := resp.Header.Get("X-Edge"); got != wantEdge {
				t.Errorf("X-Edge %q, want %q", got, wantEdge)
			}
			if got := resp.Header.Values("Vary"); len(got) != len(wantVary) || got[0] != wantVary[0] ||
				len(got) > 1 && got[1] != wantVary[1] {
				t.Errorf("Vary %q, want %q", got, wantVary)
			}
		})
	}
}
