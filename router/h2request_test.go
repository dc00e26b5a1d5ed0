package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
)

// h2Request is the request net/http's HTTP/2 server hands a handler for
// :authority host and :path target: Host and the query as they came.
func h2Request(host, target string) *http.Request {
	r := httptest.NewRequest("GET", "/t", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Host, r.RequestURI = host, target
	r.URL.Path, r.URL.RawQuery, _ = strings.Cut(target, "?") // as url.ParseRequestURI
	return r
}

// TestH2RequestsNoHTTP1RequestCarriesAreRefused: the targets an HTTP/2
// client can send and an HTTP/1.1 one cannot (a space in the query, a
// Host that is no host, none at all), and content-length fields that
// disagree, are refused with 400 before any backend sees them; forwarded,
// the first injected a target and a version into the request line, the
// second sent an empty Host and the bytes as X-Forwarded-Host, the third
// the node's own address as the Host, the last an empty body for a
// declared one. An HTTP/1.0 request without Host, and HTTP/2 ones with
// ordinary targets and lengths, are forwarded.
func TestH2RequestsNoHTTP1RequestCarriesAreRefused(t *testing.T) {
	be := newBackend(t, nil)
	s := &setup{}
	s.node("any", be.addr())
	rt := s.build(t, router.Route{Method: "*", Path: "/*", Service: "any", Budget: policy})
	for _, c := range []struct{ name, host, target string }{
		{"space in the query", "gw.test", "/t?q=a HTTP/1.1"},
		{"tab in the query", "gw.test", "/t?q=a\tb"},
		{"control character in the query", "gw.test", "/t?q=a\x7fb"},
		{"space in the authority", "a b", "/t"},
		{"slash in the authority", "a/b", "/t"},
		{"non-ASCII authority", "caf\xc3\xa9.test", "/t"},
		{"no authority", "", "/t"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, serve(rt, h2Request(c.host, c.target)), http.StatusBadRequest, problem.TypeBadRequest)
		})
	}
	// Content-length fields that net/http's HTTP/2 server lets by: it holds
	// DATA to the first one only, and to none when the stream ended with
	// the header (ContentLength 0, no body), or when the first does not
	// parse (then it resets the stream at the first DATA, which a forward
	// of the empty body could outrun).
	for _, c := range []struct {
		name   string
		fields []string
		length int64 // Request.ContentLength, as the server set it
	}{
		{"two that differ", []string{"5", "6"}, 5},
		{"5 and the stream ended with the header", []string{"5"}, 0},
		{"one that does not parse", []string{"+5"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h2Request("gw.test", "/t")
			r.Header["Content-Length"], r.ContentLength = c.fields, c.length
			wantProblem(t, serve(rt, r), http.StatusBadRequest, problem.TypeBadRequest)
		})
	}
	if n := be.hits.Load(); n != 0 {
		t.Fatalf("the backend was called %d times", n)
	}
	for _, c := range []struct {
		name string
		r    *http.Request
	}{
		{"HTTP/2, an escaped space", h2Request("gw.test", "/t?q=a%20b")},
		{"HTTP/2, a host and port", h2Request("gw.test:8443", "/t?q=a+b")},
		{"HTTP/2, a body of its content-length", func() *http.Request {
			r := h2Request("gw.test", "/t?b=1")
			r.Method, r.Body, r.ContentLength = "POST", io.NopCloser(strings.NewReader("hello")), 5
			r.Header["Content-Length"] = []string{"5", "5"}
			return r
		}()},
		{"HTTP/1.0 without Host", func() *http.Request {
			r := httptest.NewRequest("GET", "/t", nil)
			r.Proto, r.ProtoMinor, r.Host = "HTTP/1.0", 0, ""
			return r
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if rec := serve(rt, c.r); rec.Code != http.StatusOK {
				t.Fatalf("answered %d %s, want the backend's 200", rec.Code, rec.Body)
			}
			if got := be.last(t); got.RawQuery != c.r.URL.RawQuery {
				t.Errorf("the backend got the query %q, want %q", got.RawQuery, c.r.URL.RawQuery)
			}
		})
	}
}
