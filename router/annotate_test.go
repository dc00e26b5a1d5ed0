package router_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// notes is a ResponseWriter that is an Annotator, as the gateway's
// Recorder is.
type notes struct {
	http.ResponseWriter
	route, service string
	granted        time.Duration
}

func (n *notes) NoteRoute(name, service string)                { n.route, n.service = name, service }
func (n *notes) NoteBudget(granted time.Duration, _ time.Time) { n.granted = granted }

// wrapped is a writer a route's middleware puts around the one it got,
// reachable through Unwrap, as compression does.
type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestRouterNotesRouteAndBudget: the router tells the Annotator the route
// (before the route's middleware, so a refusal there counts under it) and
// the budget granted, through a writer that middleware wrapped.
func TestRouterNotesRouteAndBudget(t *testing.T) {
	b := newBackend(t, nil)
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(wrapped{w}, r) })
	}
	refuse := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	}
	rt := (&setup{}).node("svc", b.addr()).build(t,
		router.Route{Name: "ok", Method: "GET", Path: "/ok", Service: "svc", Budget: budget.Policy{Timeout: 2 * time.Second},
			Middleware: []func(http.Handler) http.Handler{wrap}},
		router.Route{Name: "refused", Method: "GET", Path: "/refused", Service: "svc", Budget: budget.Policy{Timeout: time.Second}, Middleware: []func(http.Handler) http.Handler{refuse}},
	)
	for _, tc := range []struct {
		path, route string
		granted     time.Duration
	}{{"/ok", "ok", 2 * time.Second}, {"/refused", "refused", 0}, {"/none", "", 0}} {
		n := &notes{ResponseWriter: httptest.NewRecorder()}
		rt.ServeHTTP(n, httptest.NewRequest("GET", tc.path, nil))
		if n.route != tc.route || (tc.route != "" && n.service != "svc") || n.granted != tc.granted {
			t.Errorf("%s: noted route %q service %q budget %v, want %q svc %v", tc.path, n.route, n.service, n.granted, tc.route, tc.granted)
		}
	}
}
