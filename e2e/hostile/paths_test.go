package hostile

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// pathRow is a request-target sent as is, and the prefix every path the
// backend sees for it must stay under.
type pathRow struct {
	name   string
	target string // {id} is replaced by the case's id
	prefix string // the route's target prefix
}

func pathRows() []pathRow {
	return []pathRow{
		{"dot-dot out of a rewrite: /pub/../private/x", "/pub/../private/{id}", "/public/"},
		{"two dot-dots out of a rewrite: /pub/a/../../private/x", "/pub/a/../../private/{id}", "/public/"},
		{"trailing dot-dot: /pub/x/..", "/pub/{id}/..", "/public/"},
		{"encoded dot-dot %2e%2e", "/pub/%2e%2e/private/{id}", "/public/"},
		{"encoded dot-dot in mixed case %2E%2e", "/pub/%2E%2e/private/{id}", "/public/"},
		{"half-encoded dot-dot .%2e", "/pub/.%2e/private/{id}", "/public/"},
		{"half-encoded dot-dot %2e.", "/pub/%2e./private/{id}", "/public/"},
		{"dot segment: /pub/./x", "/pub/./{id}", "/public/"},
		{"encoded slash after dot-dot: /pub/..%2fprivate", "/pub/..%2fprivate/{id}", "/public/"},
		{"encoded slash and dots: /pub/%2e%2e%2fprivate", "/pub/%2e%2e%2fprivate/{id}", "/public/"},
		{"encoded slashes climbing: /pub/x%2f..%2f..%2fprivate", "/pub/x%2f..%2f..%2fprivate/{id}", "/public/"},
		{"double slash before dot-dot: /pub//../private", "/pub//../private/{id}", "/public/"},
		{"absolute-form target with dot-dot", "http://h/pub/../private/{id}", "/public/"},
		{"dot-dot out of a plain route onto a reserved path: /app/../healthz", "/app/../healthz?{id}", "/app/"},
		{"encoded dot-dot out of a plain route: /app/%2e%2e/private", "/app/%2e%2e/private/{id}", "/app/"},
	}
}

func pathCases() []hcase {
	var cases []hcase
	for i, row := range pathRows() {
		id := fmt.Sprintf("pathcase%02d", i)
		cases = append(cases, hcase{family: "paths", name: row.name, run: func(t *testing.T, s *stack) {
			target := strings.ReplaceAll(row.target, "{id}", id)
			a, x := get(t, s.gw, target)
			t.Logf("%s", x)
			for _, rec := range s.echo.matching(id) {
				checkBackendPath(t, rec.RequestURI, row.prefix)
			}
			if a.fromBackend() {
				return
			}
			if a.status() >= 500 {
				t.Errorf("the gateway answered %d: a path is the client's input, never a 5xx", a.status())
			}
			if a.status() >= 400 && !a.isProblem() {
				t.Errorf("refused with Content-Type %q, want application/problem+json", a.resp.Header.Get("Content-Type"))
			}
		}})
	}
	return cases
}

// checkBackendPath fails unless the path of requestURI, decoded, lies under
// prefix and has no dot-segment: whatever a backend does with %2F or %2E,
// it cannot be led out of the route's target.
func checkBackendPath(t *testing.T, requestURI, prefix string) {
	t.Helper()
	p, _, _ := strings.Cut(requestURI, "?")
	decoded, err := url.PathUnescape(p)
	if err != nil {
		t.Errorf("the backend got %q, which does not decode: %v", requestURI, err)
		return
	}
	if !strings.HasPrefix(decoded, prefix) {
		t.Errorf("the backend got %q (decoded %q), outside the route's target %q", requestURI, decoded, prefix)
	}
	for _, seg := range strings.Split(decoded, "/") {
		if seg == "." || seg == ".." {
			t.Errorf("the backend got %q (decoded %q), with a dot-segment", requestURI, decoded)
			return
		}
	}
}
