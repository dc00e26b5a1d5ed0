package router

import "net/http"

// CORS preflights are answered at the edge, by the route they ask about.
//
// A browser asks before a cross-origin request that is not "simple": an
// OPTIONS request carrying Origin and Access-Control-Request-Method, sent
// without credentials (no token, no cookies). The route it asks about is
// the one of the same path shape whose method is the requested one, not an
// OPTIONS route, and there may be none: so the router registers an OPTIONS
// handler on every path shape where some route has a Preflight, and sends
// each preflight to the Preflight of the route of the requested method. A
// preflight about a method no route of the shape answers with a Preflight is
// refused at the edge too: a preflight never reaches a backend on such a
// path. Other OPTIONS requests go where they went before: to the shape's
// OPTIONS (or "*") route, or to the 405 answer.

// isPreflight reports whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// preflights holds the Preflight handlers of the routes of one path shape.
type preflights struct {
	byMethod map[string]http.Handler
	// any is the Preflight of a "*" route, which is then the shape's only
	// route (a "*" route conflicts with every other of its shape).
	any http.Handler
	// routed lists the methods of every route of the shape, with a
	// Preflight or not.
	routed map[string]bool
	// pattern is the chi pattern of the first such route, under which the
	// OPTIONS handler is registered when the shape has no OPTIONS route.
	pattern string
}

// preflightsByShape groups the Preflight handlers of routes by path shape.
func preflightsByShape(routes []Route) map[string]*preflights {
	var m map[string]*preflights
	for i := range routes {
		r := &routes[i]
		if r.Preflight == nil {
			continue
		}
		if m == nil {
			m = make(map[string]*preflights)
		}
		s := shape(r.Path)
		p := m[s]
		if p == nil {
			p = &preflights{byMethod: make(map[string]http.Handler), routed: make(map[string]bool), pattern: r.Path}
			m[s] = p
		}
		if r.Method == "*" {
			p.any = r.Preflight
		} else {
			p.byMethod[r.Method] = r.Preflight
		}
	}
	for i := range routes {
		if p := m[shape(routes[i].Path)]; p != nil {
			p.routed[routes[i].Method] = true
		}
	}
	return m
}

// handler returns the Preflight of the route that answers method, or nil.
// A GET route answers HEAD when no HEAD route does, as in routing.
func (p *preflights) handler(method string) http.Handler {
	if h := p.byMethod[method]; h != nil {
		return h
	}
	if p.any != nil {
		return p.any
	}
	if method == http.MethodHead && !p.routed[http.MethodHead] {
		return p.byMethod[http.MethodGet]
	}
	return nil
}

// wrap returns a handler that answers preflights with the route they ask
// about, and passes every other request to next.
func (p *preflights) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isPreflight(r) {
			next.ServeHTTP(w, r)
			return
		}
		if h := p.handler(r.Header.Get("Access-Control-Request-Method")); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		refusePreflight(w)
	})
}

// refusePreflight answers a preflight about a method that no route of the
// path allows cross-origin: 204 without any Access-Control-Allow-* field,
// which the browser's CORS check fails, as a route's own Preflight answers
// a refused one.
func refusePreflight(w http.ResponseWriter) {
	w.Header().Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}
