package router_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

var policy = budget.Policy{Timeout: 2 * time.Second}

// ok is a valid route, put before the bad one so that errors must name the
// right index.
var ok = router.Route{Method: "GET", Path: "/ok", Service: "svc", Budget: policy}

func TestNewRejectsBadRoutes(t *testing.T) {
	tests := []struct {
		name  string
		route router.Route
		field string
		want  string // in the error text
	}{
		{"unknown method", router.Route{Method: "FETCH", Path: "/a", Service: "s", Budget: policy}, "method", "FETCH"},
		{"lower-case method", router.Route{Method: "get", Path: "/a", Service: "s", Budget: policy}, "method", "get"},
		{"empty method", router.Route{Path: "/a", Service: "s", Budget: policy}, "method", "unknown method"},
		{"relative path", router.Route{Method: "GET", Path: "users", Service: "s", Budget: policy}, "path", "start with /"},
		{"empty path", router.Route{Method: "GET", Service: "s", Budget: policy}, "path", "start with /"},
		{"unclosed brace", router.Route{Method: "GET", Path: "/u/{id", Service: "s", Budget: policy}, "path", "unbalanced {"},
		{"stray close brace", router.Route{Method: "GET", Path: "/u/id}", Service: "s", Budget: policy}, "path", "unbalanced }"},
		{"unnamed param", router.Route{Method: "GET", Path: "/u/{}", Service: "s", Budget: policy}, "path", "no name"},
		{"unnamed regexp param", router.Route{Method: "GET", Path: "/u/{:[0-9]+}", Service: "s", Budget: policy}, "path", "no name"},
		{"star not last", router.Route{Method: "GET", Path: "/files/*/meta", Service: "s", Budget: policy}, "path", "last"},
		{"bad regexp (chi panics)", router.Route{Method: "GET", Path: "/u/{id:[}", Service: "s", Budget: policy}, "path", ""},
		{"repeated param (chi panics)", router.Route{Method: "GET", Path: "/u/{id}/{id}", Service: "s", Budget: policy}, "path", "id"},
		{"no service", router.Route{Method: "GET", Path: "/a", Budget: policy}, "service", "needs a service"},
		{"endpoint without dot", router.Route{Method: "GET", Path: "/a", Service: "s", Endpoint: "Greeter", Budget: policy}, "endpoint", "Service.Method"},
		{"endpoint not identifiers", router.Route{Method: "GET", Path: "/a", Service: "s", Endpoint: "Greeter.Hel-lo", Budget: policy}, "endpoint", "Service.Method"},
		{"rewrite on RPC route", router.Route{Method: "GET", Path: "/a/*", Service: "s", Endpoint: "A.B", Rewrite: "/x/", Budget: policy}, "rewrite", "RPC"},
		{"rewrite without catch-all", router.Route{Method: "GET", Path: "/shop/{item}", Service: "s", Rewrite: "/api/", Budget: policy}, "rewrite", "/*"},
		{"relative rewrite", router.Route{Method: "GET", Path: "/shop/*", Service: "s", Rewrite: "api/", Budget: policy}, "rewrite", "start with /"},
		{"zero timeout", router.Route{Method: "GET", Path: "/a", Service: "s"}, "budget", "timeout"},
		{"min above timeout", router.Route{Method: "GET", Path: "/a", Service: "s",
			Budget: budget.Policy{Timeout: time.Second, Min: 2 * time.Second}}, "budget", "min"},
		{"max below timeout", router.Route{Method: "GET", Path: "/a", Service: "s",
			Budget: budget.Policy{Timeout: 2 * time.Second, Max: time.Second}}, "budget", "max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := router.New([]router.Route{ok, tt.route}, nil, router.Options{})
			if err == nil {
				t.Fatalf("New accepted %+v", tt.route)
			}
			if rt != nil {
				t.Error("New returned a router with its error")
			}
			var fe *router.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Route != 1 || fe.Field != tt.field {
				t.Errorf("FieldError names route %d field %q, want route 1 field %q (%v)", fe.Route, fe.Field, tt.field, err)
			}
			if !strings.HasPrefix(err.Error(), "route 1: "+tt.field+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to start with %q and mention %q", err, "route 1: "+tt.field+": ", tt.want)
			}
		})
	}
}

func TestNewRejectsConflictingRoutes(t *testing.T) {
	r := func(method, path string) router.Route {
		return router.Route{Method: method, Path: path, Service: "s", Budget: policy}
	}
	tests := []struct {
		name         string
		first, later router.Route
	}{
		{"param names differ", r("GET", "/users/{id}"), r("GET", "/users/{name}")},
		{"regexp against plain param", r("GET", "/users/{id:[0-9]+}"), r("GET", "/users/{name}")},
		{"any method then GET", r("*", "/items/{id}"), r("GET", "/items/{sku}")},
		{"GET then any method", r("GET", "/items/{id}"), r("*", "/items/{sku}")},
		{"any method twice", r("*", "/files/*"), r("*", "/files/*")},
		{"same catch-all", r("POST", "/files/*"), r("POST", "/files/*")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := router.New([]router.Route{ok, tt.first, tt.later}, nil, router.Options{})
			var fe *router.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("New(%s, %s) = %v, want a *FieldError", tt.first.DisplayName(), tt.later.DisplayName(), err)
			}
			if fe.Route != 2 || fe.Field != "path" {
				t.Errorf("error names route %d field %q, want the later route 2, path", fe.Route, fe.Field)
			}
			for _, want := range []string{"route 2", "route 1", tt.first.DisplayName(), tt.later.Path} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestNewAcceptsDistinctRoutes(t *testing.T) {
	routes := []router.Route{
		{Method: "GET", Path: "/items/{id}", Service: "s", Budget: policy},
		{Method: "POST", Path: "/items/{sku}", Service: "s", Budget: policy},
		{Method: "DELETE", Path: "/items/{id}", Service: "s", Budget: policy},
		{Method: "GET", Path: "/items/{id}/reviews", Service: "s", Budget: policy},
		{Method: "*", Path: "/files/*", Service: "s", Budget: policy},
		{Method: "GET", Path: "/files", Service: "s", Budget: policy},
	}
	rt, err := router.New(routes, nil, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.Routes(); len(got) != len(routes) || got[1].Path != "/items/{sku}" {
		t.Errorf("Routes() = %+v, want the routes in declaration order", got)
	}
	if got := routes[0].DisplayName(); got != "GET /items/{id}" {
		t.Errorf("DisplayName = %q", got)
	}
	named := router.Route{Name: "items", Method: "GET", Path: "/x"}
	if got := named.DisplayName(); got != "items" {
		t.Errorf("DisplayName = %q, want the name", got)
	}
}

// TestMatchingIsDeterministic declares the same three overlapping routes in
// every order: the static segment always wins over the parameter, and the
// parameter over the catch-all.
func TestMatchingIsDeterministic(t *testing.T) {
	named := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) }
	}
	static, param, catchAll := newBackend(t, named("static")), newBackend(t, named("param")), newBackend(t, named("catch-all"))
	s := (&setup{}).node("static", static.addr()).node("param", param.addr()).node("catch-all", catchAll.addr())
	routes := map[string]router.Route{
		"static":    {Method: "GET", Path: "/users/me", Service: "static", Budget: policy},
		"param":     {Method: "GET", Path: "/users/{id}", Service: "param", Budget: policy},
		"catch-all": {Method: "GET", Path: "/users/*", Service: "catch-all", Budget: policy},
	}
	orders := [][]string{
		{"static", "param", "catch-all"},
		{"static", "catch-all", "param"},
		{"param", "static", "catch-all"},
		{"param", "catch-all", "static"},
		{"catch-all", "static", "param"},
		{"catch-all", "param", "static"},
	}
	requests := []struct{ path, want string }{
		{"/users/me", "static"},
		{"/users/42", "param"},
		{"/users/mess", "param"},
		{"/users/42/posts", "catch-all"},
		{"/users/me/posts", "catch-all"},
	}
	for _, order := range orders {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			var rs []router.Route
			for _, name := range order {
				rs = append(rs, routes[name])
			}
			rt := s.build(t, rs...)
			for _, req := range requests {
				rec := serve(rt, httptest.NewRequest("GET", req.path, nil))
				if rec.Code != http.StatusOK || rec.Body.String() != req.want {
					t.Errorf("GET %s answered %d %q, want 200 from %s", req.path, rec.Code, rec.Body, req.want)
				}
			}
		})
	}
}
