package router_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/router"
)

// noClient is the client of routers whose routes call no service: any
// call fails the test.
type noClient struct{ t *testing.T }

func (c noClient) Do(r *http.Request) (*http.Response, error) {
	c.t.Errorf("a service was called for %s %s", r.Method, r.URL)
	return nil, http.ErrServerClosed
}

// localRouter builds a router of routes that call no service.
func localRouter(t *testing.T, routes ...router.Route) *router.Router {
	t.Helper()
	rt, err := router.New(routes, noClient{t}, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestRedirectRoutesBuildTheLocation: redirects keep the path under a
// catch-all and the query, as To says, and what a client's path adds
// never makes the Location another host: not by slashes (a path that
// would start with //), nor by a backslash, nor by user information
// before To's host.
func TestRedirectRoutesBuildTheLocation(t *testing.T) {
	rt := localRouter(t,
		router.Route{Method: "*", Path: "/old/*", Redirect: &router.Redirect{To: "/new/"}},
		router.Route{Method: "GET", Path: "/docs", Redirect: &router.Redirect{To: "https://docs.example/api?v=2", Status: 301}},
		router.Route{Method: "GET", Path: "/host/*", Redirect: &router.Redirect{To: "https://new.example"}},
		router.Route{Method: "GET", Path: "/root/*", Redirect: &router.Redirect{To: "/"}})
	for _, tc := range []struct {
		method, target string
		status         int
		location       string
	}{
		{"GET", "/old/a/b?x=1", 307, "/new/a/b?x=1"},
		{"POST", "/old/orders", 307, "/new/orders"},
		{"GET", "/old/", 307, "/new/"},
		{"GET", "/old/a%2Fb", 307, "/new/a%2Fb"},
		{"GET", "/docs?x=1", 301, "https://docs.example/api?v=2"},
		{"GET", "/host/a", 307, "https://new.example/a"},
		{"GET", "/host/@evil.example/x", 307, "https://new.example/@evil.example/x"},
		{"GET", "/root//evil.example/x", 307, "/evil.example/x"},
		{"GET", "/root///evil.example/x", 307, "/evil.example/x"},
		{"GET", "/root/%2F/evil.example", 307, "/%2F/evil.example"},
		{"GET", "/root/%2F%2Fevil.example", 307, "/%2F%2Fevil.example"},
		{"GET", "/root/%5Cevil.example", 307, "/%5Cevil.example"},
	} {
		req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(""))
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
			t.Errorf("%s %s: %d to %q, want %d to %q", tc.method, tc.target, rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
		}
		if loc := rec.Header().Get("Location"); strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Errorf("%s %s: Location %q names another host", tc.method, tc.target, loc)
		}
	}
}

// TestRespondRoutesAnswerThemselves: a fixed answer, its type defaulted,
// no body to HEAD, none with 204.
func TestRespondRoutesAnswerThemselves(t *testing.T) {
	rt := localRouter(t,
		router.Route{Method: "*", Path: "/robots.txt", Respond: &router.Respond{Body: "User-agent: *\nDisallow: /\n"}},
		router.Route{Method: "*", Path: "/v1/*", Respond: &router.Respond{Status: 410, Body: `{"error":"v1 is gone"}`, ContentType: "application/json"}},
		router.Route{Method: "GET", Path: "/ping", Respond: &router.Respond{Status: 204}})
	for _, tc := range []struct {
		method, target string
		status         int
		ctype, body    string
	}{
		{"GET", "/robots.txt", 200, "text/plain; charset=utf-8", "User-agent: *\nDisallow: /\n"},
		{"HEAD", "/robots.txt", 200, "text/plain; charset=utf-8", ""},
		{"POST", "/v1/orders", 410, "application/json", `{"error":"v1 is gone"}`},
		{"GET", "/ping", 204, "", ""},
	} {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.ctype || rec.Body.String() != tc.body {
			t.Errorf("%s %s: %d %q %q, want %d %q %q", tc.method, tc.target, rec.Code, rec.Header().Get("Content-Type"),
				rec.Body.String(), tc.status, tc.ctype, tc.body)
		}
	}
}

// TestLocalRoutesAreRefusedWithWhatTheyCannotUse: a route answered by the
// gateway names no service or other target, a redirect goes to an http(s)
// URL with a host or to a path, and a fixed answer has a final status.
func TestLocalRoutesAreRefusedWithWhatTheyCannotUse(t *testing.T) {
	for _, tc := range []struct {
		route router.Route
		field string
		want  string
	}{
		{router.Route{Method: "GET", Path: "/a", Service: "s", Redirect: &router.Redirect{To: "/b"}}, "redirect", "no service"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "/b"}, Respond: &router.Respond{}}, "respond", "either redirects or responds"},
		{router.Route{Method: "GET", Path: "/a/*", Rewrite: "/x/", Respond: &router.Respond{}}, "respond", "no rewrite"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "//evil.example/"}}, "redirect", "neither"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "javascript:alert(1)"}}, "redirect", "neither"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "https://user@x.example/"}}, "redirect", "neither"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "b"}}, "redirect", "neither"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "/b\\c"}}, "redirect", "backslash"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "/b#c"}}, "redirect", "fragment"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{To: "/b", Status: 200}}, "redirect", "no redirect"},
		{router.Route{Method: "GET", Path: "/a", Redirect: &router.Redirect{}}, "redirect", "required"},
		{router.Route{Method: "GET", Path: "/a", Respond: &router.Respond{Status: 101}}, "respond", "from 200 to 599"},
		{router.Route{Method: "GET", Path: "/a", Respond: &router.Respond{Status: 204, Body: "x"}}, "respond", "no body"},
		{router.Route{Method: "GET", Path: "/a", Respond: &router.Respond{ContentType: "text/plain\r\nX: y"}}, "respond", "control character"},
		{router.Route{Method: "GET", Path: "/a"}, "service", "needs a service, a redirect or a respond"},
	} {
		_, err := router.New([]router.Route{tc.route}, noClient{t}, router.Options{})
		var fe *router.FieldError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: error %v, want one at %s containing %q", tc.route, err, tc.field, tc.want)
		}
	}
}
