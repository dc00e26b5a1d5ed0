package router_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/router"
)

// recordingDoer answers 200 and keeps the last request it was given.
type recordingDoer struct {
	mu   sync.Mutex
	last *http.Request
}

func (d *recordingDoer) Do(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	d.last = r
	d.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func (d *recordingDoer) take() *http.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.last
	d.last = nil
	return r
}

// fuzzRoutes, by service: the prefix every path forwarded to it must start
// with, and whether the route forwards the client's path unchanged.
var fuzzRoutes = map[string]struct {
	route     router.Route
	prefix    string
	unchanged bool
}{
	"pub":   {router.Route{Method: "GET", Path: "/pub/*", Rewrite: "/public/"}, "/public/", false},
	"padm":  {router.Route{Method: "GET", Path: "/pub/admin/*", Rewrite: "/public/admin/"}, "/public/admin/", false},
	"api":   {router.Route{Method: "GET", Path: "/api/*", Rewrite: "/v2"}, "/v2", false},
	"root":  {router.Route{Method: "GET", Path: "/root/*", Rewrite: "/"}, "/", false},
	"files": {router.Route{Method: "*", Path: "/files/*"}, "/files/", true},
	"items": {router.Route{Method: "GET", Path: "/items/{id}"}, "/items/", true},
	"admin": {router.Route{Method: "GET", Path: "/admin/panel"}, "/admin/panel", true},
	"any":   {router.Route{Method: "GET", Path: "/*"}, "/", true},
}

// lax reads a decoded path as the laxest backend would: backslashes as
// slashes, ";..." cut off each segment, trailing dots and spaces dropped,
// empty segments and a trailing slash gone.
func lax(p string) string {
	var segs []string
	for _, seg := range strings.Split(strings.ReplaceAll(p, "\\", "/"), "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if seg = strings.TrimRight(seg, ". "); seg != "" {
			segs = append(segs, seg)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// removeDotSegments is RFC 3986, section 5.2.4, step by step.
func removeDotSegments(in string) string {
	out := ""
	dropLast := func() {
		if i := strings.LastIndexByte(out, '/'); i >= 0 {
			out = out[:i]
		} else {
			out = ""
		}
	}
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			dropLast()
		case in == "/..":
			in = "/"
			dropLast()
		case in == "." || in == "..":
			in = ""
		default:
			end := strings.IndexByte(in[1:], '/') + 1
			if end == 0 {
				end = len(in)
			}
			out += in[:end]
			in = in[end:]
		}
	}
	return out
}

func TestRemoveDotSegments(t *testing.T) {
	// RFC 3986, section 5.2.4's own examples.
	for in, want := range map[string]string{
		"/a/b/c/./../../g":   "/a/g",
		"mid/content=5/../6": "mid/6",
		"/pub/../private/x":  "/private/x",
		"/a/b":               "/a/b",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzForwardedPath holds the router's promise for any request target: the
// path a backend receives, read as a backend may read it (decoded once,
// backslashes as slashes, dot-segments resolved), has no dot-segment and
// stays under the rewrite target, or under the route's own prefix when the
// route has no rewrite, which then forwards the path exactly as the client
// sent it and the router matched it. Read as the laxest backend would, it
// is not the path of another route: sent to the router, it reaches the
// same route or none; under a rewrite, it stays out of a longer rewrite
// target of another route. Anything else is refused with a 4xx.
func FuzzForwardedPath(f *testing.F) {
	for _, seed := range []string{
		"/pub/x", "/pub/../private/x", "/pub/%2e%2e/private/x", "/app/../healthz", "/pub/..%2fprivate",
		"/pub/..\\private", "/pub/..;/private", "/pub/x%00y", "/pub/%c0%ae%c0%ae/x", "/pub/%252e%252e/x",
		"/api/", "/api/a/b", "/api/%2e%2e", "/root/x", "/root//x", "/files/a%2Fb", "/files//x", "/items/1",
		"/items/a%2F..", "/admin%2Fpanel", "//admin/panel", "/pub/...", "/pub/x.", "/files/%2e%2E%2F%2E%2e/admin",
		"/pub/%2F%2E%2E", "/pub/.%2E", "/files/a/%5C..%5Cadmin", "/any/%E2%82%AC",
	} {
		f.Add(seed)
	}
	doer := &recordingDoer{}
	var routes []router.Route
	for svc, fr := range fuzzRoutes {
		r := fr.route
		r.Service, r.Budget = svc, policy
		routes = append(routes, r)
	}
	rt, err := router.New(routes, doer, router.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: gw\r\n\r\n")))
		if err != nil {
			return // not a request line a server would accept
		}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		out := doer.take()
		if out == nil {
			if rec.Code < 400 || rec.Code > 499 {
				t.Fatalf("GET %q: not forwarded, answered %d", target, rec.Code)
			}
			return
		}
		fr, ok := fuzzRoutes[out.URL.Host]
		if !ok {
			t.Fatalf("GET %q: forwarded to unknown service %q", target, out.URL.Host)
		}
		sent := out.URL.EscapedPath()
		if sent == "" {
			sent = "/" // what a client sends for an empty path
		}
		decoded, err := url.PathUnescape(sent)
		if err != nil {
			t.Fatalf("GET %q: forwarded path %q does not decode: %v", target, sent, err)
		}
		read := strings.ReplaceAll(decoded, "\\", "/")
		if resolved := removeDotSegments(read); resolved != read {
			t.Fatalf("GET %q: forwarded %q, which resolves to %q", target, sent, resolved)
		}
		for _, seg := range strings.Split(read, "/") {
			if seg, _, _ = strings.Cut(seg, ";"); seg == "." || seg == ".." {
				t.Fatalf("GET %q: forwarded %q holds a dot-segment", target, sent)
			}
		}
		under := read == strings.TrimSuffix(fr.prefix, "/") || strings.HasPrefix(read, strings.TrimSuffix(fr.prefix, "/")+"/") || fr.prefix == "/"
		if !strings.HasPrefix(read, "/") || !under {
			t.Fatalf("GET %q: forwarded %q to %s, outside %s", target, sent, out.URL.Host, fr.prefix)
		}
		if matched := req.URL.EscapedPath(); fr.unchanged && sent != matched && !(matched == "" && sent == "/") {
			t.Fatalf("GET %q: %s got %q, not the path the router matched (%q)", target, out.URL.Host, sent, req.URL.EscapedPath())
		}
		laxly := lax(decoded)
		if !fr.unchanged {
			for svc, other := range fuzzRoutes {
				if !other.unchanged && len(other.prefix) > len(fr.prefix) && strings.HasPrefix(laxly, other.prefix) {
					t.Fatalf("GET %q: %s got %q, read laxly %q: the path of %s", target, out.URL.Host, sent, laxly, svc)
				}
			}
			return
		}
		again, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET " + (&url.URL{Path: laxly}).EscapedPath() + " HTTP/1.1\r\nHost: gw\r\n\r\n")))
		if err != nil {
			t.Fatalf("GET %q: lax reading %q: %v", target, laxly, err)
		}
		rt.ServeHTTP(httptest.NewRecorder(), again)
		if out2 := doer.take(); out2 != nil && out2.URL.Host != out.URL.Host {
			t.Fatalf("GET %q: %s got %q, read laxly %q, which the router sends to %s", target, out.URL.Host, sent, laxly, out2.URL.Host)
		}
	})
}
