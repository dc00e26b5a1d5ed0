package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// routesText has routes whose patterns overlap, declared in an order
// unlike the one the router tries them in.
const routesText = `  - {name: any, path: "/api/*", service: svc}
  - {name: user, method: get, path: "/api/users/{id}", service: svc, endpoint: Users.Get, budget: {timeout: 1s, max: 3s, allow_raise: true}}
  - {name: me, path: /api/users/me, service: svc, endpoint: Users.Me}
  - {name: numeric, path: "/api/users/{id:[0-9]+}/orders", service: svc}
  - {name: named, path: "/api/users/{name}/orders", method: POST, service: svc}
  - {path: /api/users/me/orders, service: svc}
  - {name: events, path: /events, service: svc, stream: {idle_timeout: 30s}}
  - {name: files, path: "/files/*", service: svc, rewrite: /static/}
  - {path: "/old/*", redirect: {to: /api/}}
  - {path: /gone, respond: {status: 410}}
`

func TestRoutesCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gw.yaml")
	writeFile(t, file, configText("127.0.0.1:9", routesText))
	code, stdout, stderr := invoke(t, "", nil, "routes", file)
	if code != 0 {
		t.Fatalf("routes: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	// Whatever the rows say, their order must be chi's.
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, regexp.MustCompile(`  +`).Split(l, -1))
	}
	checkMatchOrder(t, rows)
	want := [][]string{
		{"METHOD", "PATH", "NAME", "SERVICE", "KIND", "TARGET", "BUDGET"},
		{"GET", "/api/users/me", "me", "svc", "rpc", "Users.Me", "5s (max 5s, min 1ms)"},
		{"GET", "/api/users/me/orders", "-", "svc", "http", "-", "5s (max 5s, min 1ms)"},
		{"GET", "/api/users/{id:[0-9]+}/orders", "numeric", "svc", "http", "-", "5s (max 5s, min 1ms)"},
		{"GET", "/api/users/{id}", "user", "svc", "rpc", "Users.Get", "1s (max 3s, min 1ms, raise)"},
		{"POST", "/api/users/{name}/orders", "named", "svc", "http", "-", "5s (max 5s, min 1ms)"},
		{"GET", "/api/*", "any", "svc", "http", "-", "5s (max 5s, min 1ms)"},
		{"GET", "/events", "events", "svc", "http", "-", "stream idle 30s, lifetime 1h0m0s"},
		{"GET", "/files/*", "files", "svc", "http", "rewrite /static/", "5s (max 5s, min 1ms)"},
		{"GET", "/gone", "-", "-", "respond", "410", "-"},
		{"GET", "/old/*", "-", "-", "redirect", "307 /api/", "-"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout)
	}
	col := 0 // the columns line up: each starts where the header's does
	for i, cells := range want {
		rest := lines[i]
		for j, cell := range cells {
			if !strings.HasPrefix(rest, cell) {
				t.Errorf("line %d, column %d: %q, want %q\n%s", i, j, rest, cell, stdout)
				break
			}
			if j == 1 && i == 0 {
				col = len(lines[0]) - len(rest)
			}
			if j == 1 && len(lines[i])-len(rest) != col {
				t.Errorf("line %d: PATH at column %d, want %d", i, len(lines[i])-len(rest), col)
			}
			rest = strings.TrimLeft(rest[len(cell):], " ")
		}
	}
}

// checkMatchOrder checks the table against chi itself: for each probe
// path, the pattern a mux of every route picks is the first row, top
// down, whose pattern alone matches it.
func checkMatchOrder(t *testing.T, rows [][]string) {
	t.Helper()
	all := chi.NewMux()
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, r := range rows {
		all.Method(r[0], r[1], h)
	}
	for _, p := range []string{"/api/users/me", "/api/users/me/orders", "/api/users/42/orders", "/api/users/ada/orders",
		"/api/users/42", "/api/users/ada", "/api/x", "/api/users", "/api/users/me/x", "/events", "/files/a/b"} {
		for _, method := range []string{"GET", "POST"} {
			got := all.Find(chi.NewRouteContext(), method, p)
			first := ""
			for _, r := range rows {
				alone := chi.NewMux()
				alone.Method(r[0], r[1], h)
				if alone.Match(chi.NewRouteContext(), method, p) {
					first = r[1]
					break
				}
			}
			if got != first {
				t.Errorf("%s %s: the router picks %q, the table's first match is %q", method, p, got, first)
			}
		}
	}
}

func TestRoutesOfBrokenFile(t *testing.T) {
	f := filepath.Join(invalidDir, "conflicting-routes.yaml")
	code, stdout, stderr := invoke(t, "", nil, "routes", f)
	if code != 1 || stdout != "" || !strings.Contains(stderr, f+":7:11: routes[1].path") {
		t.Errorf("routes of a broken file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestRoutesCommandShowsHosts lists, when some route names hosts, a row a
// host: the names first, then the wildcards, then "*" for the routes that
// serve every host, each in match order.
func TestRoutesCommandShowsHosts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gw.yaml")
	writeFile(t, file, configText("127.0.0.1:9", `  - {path: /x, service: svc}
  - {name: wild, path: /x, service: svc, hosts: ["*.example.com"]}
  - {name: api, path: "/x/{id}", service: svc, hosts: [API.example.com., b.test]}
  - {name: api-x, path: /x, service: svc, hosts: [api.example.com]}
`))
	code, stdout, stderr := invoke(t, "", nil, "routes", file)
	if code != 0 {
		t.Fatalf("routes: exit %d: %s", code, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		cells := regexp.MustCompile(`  +`).Split(l, -1)
		got = append(got, strings.Join(cells[:4], " "))
	}
	want := []string{
		"HOST METHOD PATH NAME",
		"api.example.com GET /x api-x",
		"api.example.com GET /x/{id} api",
		"b.test GET /x/{id} api",
		"*.example.com GET /x wild",
		"* GET /x -",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
