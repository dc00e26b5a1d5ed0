package router_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// TestRoutesByHost serves routes that name hosts beside routes that do
// not: each request is served by the most specific route for its host (its
// name's, then its wildcard's, then the routes without hosts), the host
// compared without case, port or final dot, and a host's route leaves the
// others' methods on its path to them.
func TestRoutesByHost(t *testing.T) {
	s, be := hostBackends(t, "plain", "api", "wild", "admin")
	b := budget.Policy{Timeout: 5 * time.Second}
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/x", Service: "plain", Budget: b},
		router.Route{Method: "POST", Path: "/x", Service: "plain", Budget: b},
		router.Route{Method: "GET", Path: "/only/{id}", Service: "plain", Budget: b},
		router.Route{Method: "GET", Path: "/x", Hosts: []string{"API.example.com."}, Service: "api", Budget: b},
		router.Route{Method: "*", Path: "/wild/*", Hosts: []string{"*.example.com"}, Service: "wild", Budget: b},
		router.Route{Method: "GET", Path: "/x", Hosts: []string{"*.example.com"}, Service: "wild", Budget: b},
		router.Route{Method: "GET", Path: "/only/{name}", Hosts: []string{"admin.example.net", "10.0.0.1"}, Service: "admin", Budget: b},
	)
	for _, tc := range []struct {
		method, host, path, want string // want: the service, or a status
	}{
		{"GET", "other.test", "/x", "plain"},
		{"POST", "other.test", "/x", "plain"},
		{"GET", "", "/x", "plain"},
		{"GET", "api.example.com", "/x", "api"},
		{"GET", "Api.Example.COM:8443", "/x", "api"},
		{"GET", "api.example.com.", "/x", "api"},
		{"HEAD", "api.example.com", "/x", "api"},
		{"POST", "api.example.com", "/x", "plain"}, // the host's GET leaves POST to the plain route
		{"GET", "api.example.com", "/wild/a", "wild"},
		{"GET", "w.example.com", "/x", "wild"},
		{"DELETE", "w.example.com", "/wild/a/b", "wild"},
		{"POST", "w.example.com", "/x", "plain"},
		{"GET", "a.b.example.com", "/x", "plain"}, // a wildcard is one label
		{"GET", "example.com", "/x", "plain"},
		{"GET", "a.b.example.com", "/wild/a", "404"},
		{"GET", "other.test", "/wild/a", "404"},
		{"GET", "admin.example.net", "/only/7", "admin"},
		{"GET", "10.0.0.1:80", "/only/7", "admin"},
		{"GET", "[::1]:80", "/only/7", "plain"},
		{"GET", "other.test", "/only/7", "plain"},
		{"PUT", "admin.example.net", "/only/7", "405"},
	} {
		got, rec := servedBy(rt, be, tc.method, tc.host, tc.path)
		if got == "" {
			got = http.StatusText(rec.Code)
			if strings.HasPrefix(tc.want, "4") {
				got = map[int]string{404: "404", 405: "405"}[rec.Code]
			}
		} else if rec.Code != http.StatusOK {
			t.Errorf("%s %s%s: %s answered %d", tc.method, tc.host, tc.path, got, rec.Code)
		}
		if got != tc.want {
			t.Errorf("%s %s%s: served by %q, want %q (status %d)", tc.method, tc.host, tc.path, got, tc.want, rec.Code)
		}
	}
}

// TestRouteHostsAreChecked refuses host names no request's host could
// match, and names the route of a conflict within a host by its place
// among every route.
func TestRouteHostsAreChecked(t *testing.T) {
	b := budget.Policy{Timeout: time.Second}
	for _, tc := range []struct {
		hosts []string
		msg   string
	}{
		{[]string{"api.example.com:443"}, "no port"},
		{[]string{"*"}, "not a host name's character"},
		{[]string{"a.*.example.com"}, "not a host name's character"},
		{[]string{"a..example.com"}, "an empty label"},
		{[]string{""}, "no name"},
		{[]string{"[::1]"}, "no IPv6"},
		{[]string{"a.test", "A.test."}, "listed twice"},
	} {
		_, err := router.New([]router.Route{
			{Method: "GET", Path: "/a", Service: "s", Budget: b},
			{Method: "GET", Path: "/b", Service: "s", Budget: b, Hosts: tc.hosts},
		}, nil, router.Options{})
		var fe *router.FieldError
		if !errors.As(err, &fe) || fe.Route != 1 || fe.Field != "hosts" || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("hosts %q: %v, want route 1's hosts refused (%s)", tc.hosts, err, tc.msg)
		}
	}
	_, err := router.New([]router.Route{
		{Method: "GET", Path: "/a", Service: "s", Budget: b},
		{Method: "GET", Path: "/u/{id}", Service: "s", Budget: b, Hosts: []string{"a.test"}},
		{Method: "GET", Path: "/b", Service: "s", Budget: b},
		{Method: "GET", Path: "/u/{name}", Service: "s", Budget: b, Hosts: []string{"b.test", "a.test"}},
	}, nil, router.Options{})
	var fe *router.FieldError
	if !errors.As(err, &fe) || fe.Route != 3 || fe.Field != "path" || !strings.Contains(err.Error(), "conflicts with route 1") {
		t.Errorf("a conflict within a host: %v, want route 3 against route 1", err)
	}
}

// TestAHostsRouteLeavesTheOtherMethodsToARouteOfEveryMethod serves a host's
// GET route beside a route of every method ("*") on the same path for
// every host: the host's GET (and HEAD) go to its own route, its other
// methods to the route of every method, as they would to a POST route.
func TestAHostsRouteLeavesTheOtherMethodsToARouteOfEveryMethod(t *testing.T) {
	s, be := hostBackends(t, "plain", "api")
	b := budget.Policy{Timeout: 5 * time.Second}
	rt := s.build(t,
		router.Route{Method: "*", Path: "/x/*", Service: "plain", Budget: b},
		router.Route{Method: "GET", Path: "/x/*", Hosts: []string{"api.example.com"}, Service: "api", Budget: b},
	)
	for _, tc := range []struct{ method, host, want string }{
		{"GET", "api.example.com", "api"},
		{"HEAD", "api.example.com", "api"},
		{"POST", "api.example.com", "plain"},
		{"DELETE", "api.example.com", "plain"},
		{"POST", "other.test", "plain"},
		{"GET", "other.test", "plain"},
	} {
		if got, rec := servedBy(rt, be, tc.method, tc.host, "/x/a"); got != tc.want || rec.Code != http.StatusOK {
			t.Errorf("%s %s/x/a: served by %q (status %d), want %q", tc.method, tc.host, got, rec.Code, tc.want)
		}
	}
}

// TestRoutesThatAllNameHostsServeTheirHostsAlone serves two hosts' routes on
// one path with no route for every host: each host's requests go to its
// own, and any other host's are answered 404, not served by the routes of
// the hosts named (nor refused at load as a conflict between two hosts).
func TestRoutesThatAllNameHostsServeTheirHostsAlone(t *testing.T) {
	s, be := hostBackends(t, "api", "admin")
	b := budget.Policy{Timeout: 5 * time.Second}
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/x", Hosts: []string{"api.example.com"}, Service: "api", Budget: b},
		router.Route{Method: "GET", Path: "/x", Hosts: []string{"admin.example.com"}, Service: "admin", Budget: b},
	)
	for _, tc := range []struct{ host, want string }{
		{"api.example.com", "api"},
		{"admin.example.com", "admin"},
		{"other.test", "404"},
		{"", "404"},
	} {
		got, rec := servedBy(rt, be, "GET", tc.host, "/x")
		if got == "" && rec.Code == http.StatusNotFound {
			got = "404"
		}
		if got != tc.want {
			t.Errorf("GET %s/x: served by %q (status %d), want %q", tc.host, got, rec.Code, tc.want)
		}
	}
}

// hostBackends returns a setup with a backend for each service named, the
// node of a service of that name.
func hostBackends(t *testing.T, services ...string) (*setup, map[string]*backend) {
	be := map[string]*backend{}
	s := &setup{}
	for _, name := range services {
		be[name] = newBackend(t, nil)
		s.node(name, be[name].addr())
	}
	return s, be
}

// servedBy serves a request of method for host and path, and returns the
// services whose backends it reached ("" for none) and the answer.
func servedBy(rt *router.Router, be map[string]*backend, method, host, path string) (string, *httptest.ResponseRecorder) {
	hits := map[string]int32{}
	for name, b := range be {
		hits[name] = b.hits.Load()
	}
	r := httptest.NewRequest(method, "http://x"+path, nil)
	r.Host = host
	rec := serve(rt, r)
	got := ""
	for name, b := range be {
		if b.hits.Load() != hits[name] {
			got += name
		}
	}
	return got, rec
}
