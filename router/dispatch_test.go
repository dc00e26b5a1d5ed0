package router

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicehq/sluice/budget"
)

// echoRoute answers for its route, before the route forwards anything:
// its name, the path's parameters as chi holds them, the request's
// Pattern, and in X-Path-Value the path values that chi's dispatch sets.
func echoRoute(name string) []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := chi.RouteContext(r.Context())
			for _, k := range rc.URLParams.Keys {
				if v := r.PathValue(k); v != "" {
					w.Header().Add("X-Path-Value", v)
				}
			}
			fmt.Fprintf(w, "%s keys=%q values=%q patterns=%q method=%q pattern=%q",
				name, rc.URLParams.Keys, rc.URLParams.Values, rc.RoutePatterns, rc.RouteMethod, r.Pattern)
		})
	}}
}

type refuseDoer struct{}

func (refuseDoer) Do(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("no backend in this test")
}

// dispatchRouter returns a router of routes of every kind, each answered
// by the middleware that answer returns for its name.
func dispatchRouter(t testing.TB, answer func(name string) []func(http.Handler) http.Handler) *Router {
	t.Helper()
	p := budget.Policy{Timeout: time.Second}
	routes := []Route{
		{Name: "greet", Method: "GET", Path: "/greet/{name}", Service: "s", Budget: p},
		{Name: "files", Method: "GET", Path: "/files/*", Service: "s", Budget: p},
		{Name: "any", Method: "*", Path: "/any/{id}/x", Service: "s", Budget: p},
		{Name: "create", Method: "POST", Path: "/items", Service: "s", Budget: p},
		{Name: "drop", Method: "DELETE", Path: "/items/{id}", Service: "s", Budget: p},
		{Name: "head", Method: "HEAD", Path: "/greet/{who}/h", Service: "s", Budget: p},
		{Name: "root", Method: "GET", Path: "/", Service: "s", Budget: p},
		{Name: "cors", Method: "PUT", Path: "/cors/{id}", Service: "s", Budget: p,
			Preflight: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })},
	}
	for i := range routes {
		routes[i].Middleware = answer(routes[i].Name)
	}
	rt, err := New(routes, refuseDoer{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// dispatchCases are requests to dispatchRouter's routes, to none of them,
// and in between.
var dispatchCases = []struct{ method, target string }{
	{"GET", "/greet/ann"}, {"HEAD", "/greet/ann"}, {"POST", "/greet/ann"}, {"get", "/greet/ann"},
	{"GET", "/greet/a%2Fb"}, {"GET", "/greet/"}, {"GET", "/greet/ann/"}, {"GET", "/greet"},
	{"GET", "/files/"}, {"GET", "/files/a/b/c"}, {"GET", "/files"}, {"PUT", "/files/a"},
	{"GET", "/any/7/x"}, {"PATCH", "/any/7/x"}, {"OPTIONS", "/any/7/x"}, {"FOO", "/any/7/x"},
	{"TRACE", "/any/7/x"}, {"CONNECT", "/any/7/x"}, {"GET", "/any/7/y"},
	{"POST", "/items"}, {"GET", "/items"}, {"DELETE", "/items/9"}, {"DELETE", "/items"},
	{"HEAD", "/greet/bo/h"}, {"GET", "/greet/bo/h"},
	{"GET", "/"}, {"HEAD", "/"}, {"POST", "/"}, {"GET", "/nowhere"}, {"FOO", "/nowhere"},
	{"PUT", "/cors/1"}, {"OPTIONS", "/cors/1"}, {"GET", "/cors/1"},
}

// answerOf serves r with h and returns what the client would see, and
// the path values the route's handler saw.
func answerOf(h http.Handler, r *http.Request) (string, []string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return fmt.Sprintf("%d allow=%q body=%s", w.Code, w.Header().Values("Allow"), w.Body), w.Header().Values("X-Path-Value")
}

// TestDispatchMatchesChi holds the router's dispatch to chi's own: for
// requests to a route, to a path no route has, with a method none has on
// it, the same handler answers, with the same parameters, patterns and
// route method in the routing context, and the same Pattern, whether the
// request brings a routing context (as under middleware.RequestID) or
// not. Only the path values differ: chi sets them, dispatch does not, and
// never leaves a request to a route to chi's dispatch.
func TestDispatchMatchesChi(t *testing.T) {
	rt := dispatchRouter(t, echoRoute)
	chiOwn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := rt.checkPath(r); why != "" {
			refusePath(w, why)
			return
		}
		rt.mux.ServeHTTP(w, r)
	})
	for _, c := range dispatchCases {
		for _, withCtx := range []bool{false, true} {
			req := func() *http.Request {
				r := httptest.NewRequest("GET", c.target, nil)
				r.Method = c.method
				if withCtx {
					r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, chi.NewRouteContext()))
				}
				return r
			}
			want, _ := answerOf(chiOwn, req())
			got, pv := answerOf(rt, req())
			if got != want {
				t.Errorf("%s %s (routing context given: %v):\n got %s\nwant %s", c.method, c.target, withCtx, got, want)
			}
			if pv != nil { // chi answered a request that dispatch should have
				t.Errorf("%s %s (routing context given: %v): path values %q set", c.method, c.target, withCtx, pv)
			}
		}
	}
}

// TestDispatchNoPathValues: the router finds a route with a parameter
// without the two allocations of chi's copy of it into the request's path
// values.
func TestDispatchNoPathValues(t *testing.T) {
	rt := dispatchRouter(t, echoRoute)
	rctx := chi.NewRouteContext()
	r := httptest.NewRequest("GET", "/greet/ann", nil)
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
	var found bool
	h := handlerOf(rt.handlers["/greet/{name}"], "GET")
	rt.handle("GET", "/greet/{name}", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { found = true }))
	defer rt.handle("GET", "/greet/{name}", h)
	allocs := testing.AllocsPerRun(100, func() {
		rctx.Reset()
		r.Pattern = ""
		rt.dispatch(nil, r)
	})
	if !found || r.PathValue("name") != "" || chi.URLParam(r, "name") != "ann" || r.Pattern != "/greet/{name}" {
		t.Fatalf("found %v, path value %q, URLParam %q, Pattern %q", found, r.PathValue("name"), chi.URLParam(r, "name"), r.Pattern)
	}
	if allocs != 0 {
		t.Errorf("dispatch allocates %v times a request, want 0", allocs)
	}
}

// BenchmarkDispatch prices finding a route with a parameter and calling
// its handler (which does nothing), with a routing context given, as under
// middleware.RequestID: the router's dispatch against chi's own. Both copy
// the request first, as a request of its own.
func BenchmarkDispatch(b *testing.B) {
	rt := dispatchRouter(b, func(string) []func(http.Handler) http.Handler {
		return []func(http.Handler) http.Handler{func(http.Handler) http.Handler {
			return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		}}
	})
	for _, name := range []string{"dispatch", "chi"} {
		b.Run(name, func(b *testing.B) {
			rctx := chi.NewRouteContext()
			base := httptest.NewRequest("GET", "/greet/ann", nil)
			base = base.WithContext(context.WithValue(base.Context(), chi.RouteCtxKey, rctx))
			b.ReportAllocs()
			for b.Loop() {
				rctx.Reset()
				r := *base
				if name == "dispatch" {
					rt.dispatch(nil, &r)
				} else {
					rt.mux.ServeHTTP(nil, &r)
				}
			}
		})
	}
}

// TestHandlerOf: a pattern's handler for the method comes first, in any
// order of registration, then the one for every method ("*"), then none.
func TestHandlerOf(t *testing.T) {
	var got string
	mk := func(name string) http.Handler {
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = name })
	}
	for _, hs := range [][]methodHandler{
		{{"*", mk("any")}, {"GET", mk("get")}},
		{{"GET", mk("get")}, {"*", mk("any")}},
	} {
		for method, want := range map[string]string{"GET": "get", "POST": "any"} {
			got = ""
			handlerOf(hs, method).ServeHTTP(nil, nil)
			if got != want {
				t.Errorf("%s in %d handlers: %q, want %q", method, len(hs), got, want)
			}
		}
	}
	if h := handlerOf([]methodHandler{{"GET", mk("get")}}, "POST"); h != nil {
		t.Error("a method with no handler and no \"*\" one found one")
	}
}
