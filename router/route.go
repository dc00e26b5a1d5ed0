package router

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
)

// Route maps a method and a path pattern to a service.
type Route struct {
	// Name identifies the route in logs and metrics. Empty means
	// "METHOD pattern".
	Name string
	// Method is the HTTP method the route answers, or "*" for any.
	Method string
	// Path is a chi pattern: literal segments, {param} or {param:regexp}
	// segments, and an optional trailing /* catch-all.
	Path string
	// Hosts, when not empty, are the host names (exact, or "*." and a
	// suffix for any one label before it) whose requests the route
	// serves, ahead of the routes without Hosts (see hosts.go). Empty
	// serves every host.
	Hosts []string
	// Service names the backend service, as discovery knows it. Required
	// unless Redirect or Respond answers the route.
	Service string
	// Redirect, when set, answers the route's requests with a redirect,
	// calling no service (see local.go).
	Redirect *Redirect
	// Respond, when set, answers the route's requests with a fixed answer,
	// calling no service (see local.go).
	Respond *Respond
	// Endpoint, when set, makes this an RPC route calling Service.Method.
	Endpoint string
	// Rewrite, for an HTTP route whose Path ends in /*, replaces the literal
	// prefix before the * in the forwarded path: Path /shop/* with Rewrite
	// /api/ forwards /shop/items as /api/items. Empty forwards the path as is.
	Rewrite string
	// Budget is the route's budget policy.
	Budget budget.Policy
	// Idempotent marks the route's requests safe to retry after they were
	// sent, whatever their method.
	Idempotent bool
	// MaxBodyBytes, when positive, is the largest request body the route
	// accepts: a larger declared Content-Length is answered 413 before any
	// node is picked, and a chunked body that grows past it is cut there,
	// its request answered 413 (the client's fault, never a node's). Zero
	// means Options.MaxBodyBytes on an RPC route and no bound on an HTTP
	// route.
	MaxBodyBytes int64
	// Stream, when not nil, makes this a stream route: Budget is replaced
	// by the stream's idle timeout and maximum lifetime (see StreamPolicy).
	// HTTP routes only.
	Stream *StreamPolicy
	// Upgrades lists the protocols (Upgrade tokens, matched without regard
	// to case) a client may switch to through an HTTP route; a request
	// asking for another is refused with 400. Empty means "websocket" alone.
	Upgrades []string
	// Middleware wraps the route's handler, the first outermost: it runs
	// after the route matched (its path parameters are in chi's routing
	// context, read with chi.URLParam; the router does not copy them into
	// http.Request.PathValue, dispatch.go says why) and before the budget
	// is originated, which still counts from the request's arrival.
	Middleware []func(http.Handler) http.Handler
	// Preflight, when set, answers the CORS preflights that ask about this
	// route (OPTIONS with Origin and Access-Control-Request-Method naming
	// its method, on its path), before any Middleware and without calling
	// the backend; the router then answers every preflight on the route's
	// path itself (see preflight.go). Nil leaves OPTIONS requests to the
	// routes, as any other method.
	Preflight http.Handler
}

// DisplayName returns Name, or "METHOD pattern" when Name is empty
// ("METHOD host,host/pattern" for a route with Hosts).
func (r *Route) DisplayName() string {
	if r.Name != "" {
		return r.Name
	}
	if len(r.Hosts) > 0 {
		return r.Method + " " + strings.Join(r.Hosts, ",") + r.Path
	}
	return r.Method + " " + r.Path
}

var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true, "*": true,
}

// FieldError is a problem with one field of one route, so that a
// configuration loader can point at where the route was written.
type FieldError struct {
	Route int    // index in the slice given to New
	Field string // "method", "path", "hosts", "service", "endpoint", "rewrite", "budget", "stream"
	Err   error
}

// Error implements the error interface.
func (e *FieldError) Error() string {
	return fmt.Sprintf("route %d: %s: %v", e.Route, e.Field, e.Err)
}

// Unwrap returns the error this one wraps, for errors.Is and errors.As.
func (e *FieldError) Unwrap() error { return e.Err }

func (r *Route) validate(i int) error {
	fail := func(field string, err error) error { return &FieldError{Route: i, Field: field, Err: err} }
	if !methods[r.Method] {
		return fail("method", fmt.Errorf("unknown method %q", r.Method))
	}
	if err := validatePattern(r.Path); err != nil {
		return fail("path", err)
	}
	if local, err := r.validateLocal(); err != nil {
		return fail(local, err)
	}
	if r.Service == "" && r.Redirect == nil && r.Respond == nil {
		return fail("service", errors.New("a route needs a service, a redirect or a respond"))
	}
	if r.Endpoint != "" {
		if err := rpc.ValidateEndpoint(r.Endpoint); err != nil {
			return fail("endpoint", err)
		}
		if r.Rewrite != "" {
			return fail("rewrite", errors.New("rewrite applies to HTTP routes, not RPC routes"))
		}
	}
	if r.Rewrite != "" {
		if !strings.HasSuffix(r.Path, "/*") {
			return fail("rewrite", errors.New("rewrite needs a path ending in /*"))
		}
		if err := validateRewrite(r.Rewrite); err != nil {
			return fail("rewrite", err)
		}
	}
	if err := r.Budget.Validate(); err != nil && r.Redirect == nil && r.Respond == nil {
		return fail("budget", err) // a route the gateway answers has no budget to spend
	}
	if r.Stream != nil {
		if r.Endpoint != "" {
			return fail("stream", errors.New("stream applies to HTTP routes, not RPC routes"))
		}
		if err := r.Stream.Validate(); err != nil {
			return fail("stream", err)
		}
	}
	return nil
}

// validateLocal checks a route answered by the gateway itself (Redirect,
// Respond): that it is nothing else too. It returns the field at fault.
func (r *Route) validateLocal() (string, error) {
	field := "redirect"
	switch {
	case r.Redirect != nil && r.Respond != nil:
		return "respond", errors.New("a route either redirects or responds")
	case r.Redirect != nil:
		if err := r.Redirect.validate(); err != nil {
			return field, err
		}
	case r.Respond != nil:
		field = "respond"
		if err := r.Respond.validate(); err != nil {
			return field, err
		}
	default:
		return "", nil
	}
	for _, other := range []struct {
		name string
		set  bool
	}{{"service", r.Service != ""}, {"endpoint", r.Endpoint != ""}, {"rewrite", r.Rewrite != ""},
		{"stream", r.Stream != nil}, {"upgrades", len(r.Upgrades) > 0}} {
		if other.set {
			return field, fmt.Errorf("a route that the gateway answers itself has no %s", other.name)
		}
	}
	return "", nil
}

// validatePattern checks a chi pattern: it starts with /, its braces
// balance, parameters are named, and * appears only as the last segment.
func validatePattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("path must start with /")
	}
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			if depth == 0 && (i+1 >= len(p) || p[i+1] == '}' || p[i+1] == ':') {
				return fmt.Errorf("parameter at offset %d has no name", i)
			}
			depth++
		case '}':
			depth--
			if depth < 0 {
				return fmt.Errorf("unbalanced } at offset %d", i)
			}
		case '*':
			if depth == 0 && i != len(p)-1 {
				return errors.New("* must be the last character of the path")
			}
		}
	}
	if depth != 0 {
		return errors.New("unbalanced {")
	}
	return nil
}

// shape returns the pattern with every parameter reduced to {}, so that two
// patterns that match the same paths compare equal.
func shape(p string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '{':
			if depth == 0 {
				b.WriteString("{}")
			}
			depth++
		case c == '}':
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}
