package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// TestHeadOnGetRoutes: HEAD is allowed wherever GET is (RFC 9110, section
// 9.3.2). A GET route answers HEAD, forwarded upstream as HEAD, unless a
// HEAD route of its own serves the path; 405 answers list HEAD beside GET.
func TestHeadOnGetRoutes(t *testing.T) {
	items := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Item", "42")
		w.Header().Set("Content-Length", "7")
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "item 42")
		}
	})
	heads := newBackend(t, nil)
	rt := (&setup{}).node("items", items.addr()).node("heads", heads.addr()).build(t,
		router.Route{Method: "GET", Path: "/items/{id}", Service: "items", Budget: policy},
		router.Route{Method: "GET", Path: "/both", Service: "items", Budget: policy},
		router.Route{Method: "HEAD", Path: "/both", Service: "heads", Budget: policy},
		router.Route{Method: "GET", Path: "/docs/*", Service: "items", Rewrite: "/v1/", Budget: policy},
		router.Route{Method: "POST", Path: "/orders", Service: "items", Budget: policy},
	)

	t.Run("HEAD on a GET route", func(t *testing.T) {
		rec := serve(rt, httptest.NewRequest("HEAD", "/items/42", nil))
		if rec.Code != http.StatusOK || rec.Header().Get("X-Item") != "42" || rec.Body.Len() != 0 {
			t.Fatalf("answer %d %v %q, want the backend's 200 header and no body", rec.Code, rec.Header(), rec.Body)
		}
		if got := items.last(t); got.Method != "HEAD" || got.RequestURI != "/items/42" {
			t.Errorf("backend got %s %s, want HEAD /items/42", got.Method, got.RequestURI)
		}
	})
	t.Run("HEAD on a rewritten GET route", func(t *testing.T) {
		if rec := serve(rt, httptest.NewRequest("HEAD", "/docs/a", nil)); rec.Code != http.StatusOK {
			t.Fatalf("answer %d %s", rec.Code, rec.Body)
		}
		if got := items.last(t); got.Method != "HEAD" || got.RequestURI != "/v1/a" {
			t.Errorf("backend got %s %s, want HEAD /v1/a", got.Method, got.RequestURI)
		}
	})
	t.Run("an explicit HEAD route wins", func(t *testing.T) {
		if rec := serve(rt, httptest.NewRequest("HEAD", "/both", nil)); rec.Code != http.StatusOK {
			t.Fatalf("answer %d %s", rec.Code, rec.Body)
		}
		if got := heads.last(t); got.Method != "HEAD" || got.RequestURI != "/both" {
			t.Errorf("HEAD route's backend got %s %s", got.Method, got.RequestURI)
		}
		if rec := serve(rt, httptest.NewRequest("GET", "/both", nil)); rec.Code != http.StatusOK {
			t.Fatalf("GET answer %d %s", rec.Code, rec.Body)
		}
		if got := items.last(t); got.Method != "GET" {
			t.Errorf("GET route's backend got %s", got.Method)
		}
	})

	for _, tt := range []struct{ method, target, allow string }{
		{"DELETE", "/items/1", "GET, HEAD"},
		{"PUT", "/both", "GET, HEAD"},
		{"HEAD", "/orders", "POST"},
		{"GET", "/orders", "POST"},
	} {
		t.Run("405 "+tt.method+" "+tt.target, func(t *testing.T) {
			rec := serve(rt, httptest.NewRequest(tt.method, tt.target, nil))
			wantProblem(t, rec, http.StatusMethodNotAllowed, problem.TypeMethod)
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

// TestHeadOnGetRPCRoute: HEAD on a GET RPC route calls the endpoint as GET
// does, and the client gets the answer's header without its body.
func TestHeadOnGetRPCRoute(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"message":"Hello, Ada!"}`)
	})
	rt := (&setup{}).node("greeter", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/greet/{name}", Service: "greeter", Endpoint: "Greeter.Hello", Budget: policy})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)

	resp, err := http.Head(srv.URL + "/greet/Ada")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %v %q, want 200 with the endpoint's header and no body", resp.StatusCode, resp.Header, body)
	}
	if got := be.last(t); got.Method != "POST" || got.Path != "/rpc/Greeter.Hello" || string(got.Body) != `{"name":"Ada"}` {
		t.Errorf("backend got %s %s %s", got.Method, got.Path, got.Body)
	}
}

// TestHeadThroughLeanTransport: the gateway's default transport reads the
// answer to a forwarded HEAD as bodiless, whatever its Content-Length, so
// the pooled connection serves the next request in step.
func TestHeadThroughLeanTransport(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "7")
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "content")
		}
	})
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	s := &setup{copts: []upstream.Option{upstream.WithTransport(tr)}}
	rt := s.node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: policy})
	for i, method := range []string{"HEAD", "HEAD", "GET", "HEAD", "GET"} {
		rec := serve(rt, httptest.NewRequest(method, "/a", nil))
		want := "content"
		if method == "HEAD" {
			want = ""
		}
		if rec.Code != http.StatusOK || rec.Body.String() != want || rec.Header().Get("Content-Length") != "7" {
			t.Fatalf("request %d, %s: answer %d %v %q", i, method, rec.Code, rec.Header(), rec.Body)
		}
		if got := be.last(t); got.Method != method {
			t.Fatalf("request %d: backend got %s, want %s", i, got.Method, method)
		}
	}
}
