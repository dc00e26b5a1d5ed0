package router_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
)

// hostileRoutes are the routes the hostile-path tests run against: a
// rewritten prefix with a rewritten part of its own (say, behind auth), a
// pass-through prefix, an exact path (say, behind auth) and a catch-all
// that would take whatever the others leave.
func hostileRoutes() []router.Route {
	return []router.Route{
		{Method: "GET", Path: "/pub/*", Service: "pub", Rewrite: "/public/", Budget: policy},
		{Method: "GET", Path: "/pub/admin/*", Service: "admin", Rewrite: "/public/admin/", Budget: policy},
		{Method: "*", Path: "/files/*", Service: "files", Budget: policy},
		{Method: "GET", Path: "/admin/panel", Service: "admin", Budget: policy},
		{Method: "GET", Path: "/*", Service: "any", Budget: policy},
	}
}

// TestHostilePathsAreRefused sends paths that a backend could read as
// another path than the one the router matched: dot-segments, literal or
// encoded, and the encodings old decoders took for them. Each must be
// refused with 400 before any backend sees it.
func TestHostilePathsAreRefused(t *testing.T) {
	be := newBackend(t, nil)
	s := &setup{opts: router.Options{Reserved: []string{"/healthz", "/readyz"}}}
	for _, svc := range []string{"pub", "files", "admin", "any"} {
		s.node(svc, be.addr())
	}
	rt := s.build(t, hostileRoutes()...)
	for _, target := range []string{
		// Escaped letters: chi matches the client's escaped path whenever
		// it differs from the default encoding, and every backend decodes
		// it. /%61dmin/panel is no route's path escaped, so the catch-all
		// took it, and the backend read /admin/panel, the path of a route
		// of its own (behind auth, say), reached without its policies.
		"/%61dmin/panel",         // the catch-all's, read as the exact route's
		"/%61%64%6d%69%6e/panel", // every letter escaped
		"/admin/p%61nel",         // the exact route's first segment, its last escaped
		"/admin/%70anel?x=1",     // with a query
		"/pub/%61dmin/x",         // under a rewrite, read as /pub/admin/*'s target
		"/p%75b/admin/x",         // the rewrite's own prefix escaped
		"/%68ealthz",             // a reserved path
		"/%66iles/x",             // the catch-all's, read as /files/*'s
		// Dot-segments, as the issue found them.
		"/pub/../private/x",
		"/pub/%2e%2e/private/x",
		"/app/../healthz",
		"/../etc/passwd",
		// Every spelling of a dot-segment.
		"/pub/%2E%2E/private/x",
		"/pub/.%2e/private/x",
		"/pub/%2e./private/x",
		"/pub/./x",
		"/pub/%2e/x",
		"/pub/..",
		"/pub/.",
		"/pub/x/..",
		"/pub/%2e%2e",
		"/files/a/../../admin/panel",
		// Dot-segments behind an encoded slash or a backslash, which a
		// decoding backend, or a Windows one, splits.
		"/pub/..%2fprivate",
		"/pub/..%2Fprivate",
		"/pub/%2e%2e%2fprivate",
		"/pub/x%2f..%2f..%2fprivate",
		"/pub/..\\private",
		"/pub/..%5cprivate",
		"/pub/..%5Cprivate",
		// Path parameters that servlet containers cut before resolving.
		"/pub/..;/private",
		"/pub/..%3b/private",
		"/pub/.;x/y",
		// Null bytes and other control characters (truncation, splitting).
		"/pub/x%00y",
		"/pub/x%00/y",
		"/pub/%0d%0aSet-Cookie:%20a=b",
		"/pub/%09",
		"/pub/%7f",
		// Overlong and broken UTF-8: %c0%ae is an old decoder's '.', %c0%af
		// its '/'.
		"/pub/%c0%ae%c0%ae/private",
		"/pub/%c0%af",
		"/pub/%e0%80%ae%e0%80%ae/private",
		"/pub/%f0%80%80%ae",
		"/pub/%ff",
		// Encoded slashes, backslashes and empty segments that would make a
		// decoding or slash-merging backend see the path of another route.
		"/admin%2Fpanel",
		"/admin%2fpanel",
		"/admin%5Cpanel",
		"/admin\\panel",
		"//admin/panel",
		"/admin//panel",
		"//admin//panel",
		"/admin/panel/",
		"/admin/panel;x=1",
		"/admin;x/panel",
		"/admin/panel.",
		"/admin/panel..",
		"/admin/panel%20",
		"/admin./panel",
		// The same, in the part a rewrite keeps: /pub/* would forward them
		// as /public/admin/..., the path of the route /pub/admin/*.
		"/pub//admin/x",
		"/pub/admin%2Fx",
		"/pub/admin;v=1/x",
		"/pub/admin./x",
		"/pub/admin\\x",
		// A reserved path of the gateway, reached by a merging backend.
		"//healthz",
		"/%2Freadyz",
	} {
		t.Run(target, func(t *testing.T) {
			rec := serve(rt, httptest.NewRequest("GET", target, nil))
			wantProblem(t, rec, http.StatusBadRequest, problem.TypeBadRequest)
		})
	}
	if n := be.hits.Load(); n != 0 {
		t.Errorf("the backend was called %d times", n)
	}
}

// TestOrdinaryPathsPassUnchanged holds what the refusals above must not
// touch: names with dots that are not dot-segments, escapes of ordinary
// characters, double encoding (data after one decoding, as every server
// decodes once), and encoded slashes or empty segments that no reading of
// the path could send to another route.
func TestOrdinaryPathsPassUnchanged(t *testing.T) {
	be := newBackend(t, nil)
	s := &setup{}
	for _, svc := range []string{"pub", "files", "admin", "any"} {
		s.node(svc, be.addr())
	}
	rt := s.build(t, hostileRoutes()...)
	tests := []struct{ target, want string }{
		{"/pub/x", "/public/x"},
		{"/pub/...", "/public/..."},
		{"/pub/x.", "/public/x."},
		{"/pub/x..", "/public/x.."},
		{"/pub/..x", "/public/..x"},
		{"/pub/.hidden", "/public/.hidden"},
		{"/pub/a.b/c..d/e", "/public/a.b/c..d/e"},
		{"/pub/%252e%252e/private", "/public/%252e%252e/private"},
		{"/pub/%252f", "/public/%252f"},
		{"/pub/a%20b", "/public/a%20b"},
		{"/pub/%E2%82%AC", "/public/%E2%82%AC"},
		{"/pub/x;v=1", "/public/x;v=1"},
		{"/pub/50%25", "/public/50%25"},
		{"/files/a%2Fb", "/files/a%2Fb"},
		{"/files/a%5Cb", "/files/a%5Cb"},
		{"/files//x", "/files//x"},
		{"/files/x/", "/files/x/"},
		{"/files/x;v=1", "/files/x;v=1"},
		{"/files/x.", "/files/x."},
		{"/files/x%20", "/files/x%20"},
		{"/pub/", "/public/"},
		{"/pub/x/", "/public/x/"},
		{"/pub/admin/x", "/public/admin/x"},
		{"/pub/x%2Fy", "/public/x%2Fy"},
		{"/pub//x", "/public/x"},
		{"/app/x", "/app/x"},
		{"/admin/panel", "/admin/panel"},
		// Escapes that every reading keeps on the route they matched.
		{"/files/%61", "/files/%61"},
		{"/pub/%e2%82%ac", "/public/%e2%82%ac"},
		{"/any/%41", "/any/%41"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := serve(rt, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
				t.Fatalf("answer %d %q, want the backend's 200", rec.Code, rec.Body)
			}
			if got := be.last(t); got.RequestURI != tt.want {
				t.Errorf("backend got %s, want %s", got.RequestURI, tt.want)
			}
		})
	}
}

// TestRewriteMustBeAPlainPath refuses, at load, a rewrite target that is
// not a plain absolute path: one with dot-segments would lead outside
// itself.
func TestRewriteMustBeAPlainPath(t *testing.T) {
	for _, rw := range []string{"/a/../b/", "/a/./", "/..", "/a\\..\\b/", "/a\x00/"} {
		t.Run(rw, func(t *testing.T) {
			_, err := router.New([]router.Route{{Method: "GET", Path: "/x/*", Service: "s", Rewrite: rw, Budget: policy}}, nil, router.Options{})
			if err == nil {
				t.Fatalf("New accepted rewrite %q", rw)
			}
		})
	}
}
