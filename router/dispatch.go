package router

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// Why the router calls a route's handler itself, after chi found it.
//
// chi's Mux, on a match, copies each of the path's parameters into the
// request (http.Request.SetPathValue). A chi pattern is not one of
// net/http's, so every copy lands in a map the request allocates: two
// allocations, on every request to a route with a parameter or a
// catch-all, for values that nothing in the gateway reads; the router and
// the route's policies read chi.URLParam. So on a request the router asks
// chi's tree for the route (Mux.Find: the same lookup, into the same
// routing context), and calls the handler it registered for that method
// and pattern, as chi's own dispatch would, setting the request's Pattern
// as chi does. Where no route matches, chi answers, as it always has (404,
// 405); the routing context is left as chi's lookup would find it.
//
// A route's handler therefore reads its path's parameters with
// chi.URLParam (or chi.RouteContext), not http.Request.PathValue.

// methodHandler is a handler registered with the mux for a pattern, and
// its method as chi keeps it ("*" for every method). A pattern has a
// handler for a few methods at most: they are scanned, after one lookup of
// the pattern, where a map keyed by method and pattern together hashed
// both, about 225 instructions a request.
type methodHandler struct {
	method string
	h      http.Handler
}

// handlerOf returns the handler hs has for method, else for every method
// ("*"), or nil.
func handlerOf(hs []methodHandler, method string) http.Handler {
	var any http.Handler
	for _, mh := range hs {
		switch mh.method {
		case method:
			return mh.h
		case "*":
			any = mh.h
		}
	}
	return any
}

// anyMethods are the methods a "*" route answers: those a route may name.
// chi's "every method" also takes TRACE and CONNECT, which a gateway must
// not forward. A backend that answers TRACE echoes the request as it
// reached it, with the headers the gateway added (X-Forwarded-For, the
// request id, the claims of a token, Sluice-Budget) and the client's
// cookies, to a page that can send it (cross-site tracing); and a 2xx to
// CONNECT turns the backend's pooled connection into a tunnel. Like
// nginx's, the gateway answers both 405 on every route.
var anyMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// handle registers h with the mux for method ("*": each of anyMethods) and
// pattern, and remembers it for dispatch.
func (rt *Router) handle(method, pattern string, h http.Handler) {
	if method == "*" {
		for _, m := range anyMethods {
			rt.mux.Method(m, pattern, h)
		}
	} else {
		method = strings.ToUpper(method)
		rt.mux.Method(method, pattern, h)
	}
	hs := rt.handlers[pattern]
	for i := range hs {
		if hs[i].method == method {
			hs[i].h = h
			return
		}
	}
	rt.handlers[pattern] = append(hs, methodHandler{method, h})
}

// dispatch routes r as chi's Mux does, without copying the path's
// parameters into r's path values.
func (rt *Router) dispatch(w http.ResponseWriter, r *http.Request) {
	rctx, _ := r.Context().Value(chi.RouteCtxKey).(*chi.Context)
	if rctx == nil {
		// As chi's Mux.ServeHTTP: a routing context of its own. The
		// gateway's middleware.RequestID provides one without these two
		// allocations.
		rctx = chi.NewRouteContext()
		rctx.Routes = rt.mux
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
	}
	if h := rt.find(rctx, r); h != nil {
		r.Pattern = rctx.RoutePattern()
		h.ServeHTTP(w, r)
		return
	}
	rt.mux.ServeHTTP(w, r) // no route: chi's 404 or 405
}

// find looks r's route up in rctx, as chi's routeHTTP does, and returns its
// handler, or nil. A lookup that finds no route leaves rctx's parameters
// and patterns as they were, for chi's own lookup to run again.
func (rt *Router) find(rctx *chi.Context, r *http.Request) http.Handler {
	path := rctx.RoutePath
	if path == "" {
		if path = r.URL.RawPath; path == "" {
			path = r.URL.Path
		}
		if path == "" {
			path = "/"
		}
	}
	method := rctx.RouteMethod
	if method == "" {
		method = r.Method
	}
	pattern := rt.mux.Find(rctx, method, path)
	if pattern == "" {
		return nil
	}
	h := handlerOf(rt.handlers[pattern], method)
	if h != nil {
		rctx.RouteMethod = method
	}
	return h
}
