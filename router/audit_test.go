package router_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
)

// TestEscapedLettersDoNotChangeTheRoute: chi matches the client's escaped
// path whenever it differs from the default encoding, and every backend
// decodes it. /%61dmin/panel is no route's path escaped, so the catch-all
// took it, and the backend read /admin/panel: the path of a route of its
// own (behind auth, say), reached without its policies. Such a path must be
// refused, as its encoded-slash spellings are.
func TestEscapedLettersDoNotChangeTheRoute(t *testing.T) {
	be := newBackend(t, nil)
	s := &setup{opts: router.Options{Reserved: []string{"/healthz", "/readyz"}}}
	for _, svc := range []string{"pub", "files", "admin", "any"} {
		s.node(svc, be.addr())
	}
	rt := s.build(t, hostileRoutes()...)
	for _, target := range []string{
		"/%61dmin/panel",         // the catch-all's, read as the exact route's
		"/%61%64%6d%69%6e/panel", // every letter escaped
		"/admin/p%61nel",         // the exact route's first segment, its last escaped
		"/admin/%70anel?x=1",     // with a query
		"/pub/%61dmin/x",         // under a rewrite, read as /pub/admin/*'s target
		"/p%75b/admin/x",         // the rewrite's own prefix escaped
		"/%68ealthz",             // a reserved path
		"/%66iles/x",             // the catch-all's, read as /files/*'s
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

// TestEscapedPathsOfTheSameRoutePass holds what the refusal above must not
// touch: escapes that any reading keeps on the route they matched.
func TestEscapedPathsOfTheSameRoutePass(t *testing.T) {
	be := newBackend(t, nil)
	s := &setup{}
	for _, svc := range []string{"pub", "files", "admin", "any"} {
		s.node(svc, be.addr())
	}
	rt := s.build(t, hostileRoutes()...)
	tests := []struct{ target, want string }{
		{"/files/%61", "/files/%61"},
		{"/pub/%e2%82%ac", "/public/%e2%82%ac"},
		{"/any/%41", "/any/%41"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := serve(rt, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("answer %d %q, want the backend's 200", rec.Code, rec.Body)
			}
			if got := be.last(t); got.RequestURI != tt.want {
				t.Errorf("backend got %s, want %s", got.RequestURI, tt.want)
			}
		})
	}
}

// TestUpstreamFailuresTellNoAddress: a failure the gateway answers 5xx for
// is logged with its cause; the client, anyone on the internet, gets the
// status, type and title, and neither the nodes' addresses nor the
// transport's errors (the network behind the edge). The retry advice still
// reaches it.
func TestUpstreamFailuresTellNoAddress(t *testing.T) {
	down := closedAddr(t)
	hang, arrived, _ := hangingBackend(t)
	s := (&setup{}).node("down", down).node("hang", hang.addr())
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/down", Service: "down", Budget: policy},
		router.Route{Method: "GET", Path: "/hang", Service: "hang", Budget: budget.Policy{Timeout: time.Second}},
	)
	tests := []struct {
		path   string
		status int
		secret string
	}{
		{"/down", http.StatusBadGateway, down},
		{"/hang", http.StatusGatewayTimeout, hang.addr()},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() { done <- serve(rt, httptest.NewRequest("GET", tt.path, nil)) }()
			if tt.path == "/hang" {
				waitFor(t, arrived, "the request to reach the backend")
			}
			rec := waitFor(t, done, "the gateway's answer")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			for _, leak := range []string{tt.secret, "127.0.0.1", "upstream:", "dial", "tcp", "context deadline"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("the answer tells the client %q: %s", leak, rec.Body)
				}
			}
		})
	}
	if got := answerTo(t, rt, "/down").Header().Get("Sluice-Retry"); got == "" {
		t.Error("the answer lost its Sluice-Retry advice")
	}
}

func answerTo(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(h, httptest.NewRequest("GET", target, nil))
}
