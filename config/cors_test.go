package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func TestCORSErrorsPointAtTheField(t *testing.T) {
	route := nodes + "routes:\n  - path: /a\n    service: svc\n    cors:\n" // cors fields on line 8, column 7
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path, msg string
	}{
		{"no origins", route + "      credentials: true\n", 8, 7, "routes[0].cors.origins", "list the origins"},
		{"any origin with credentials", route + "      origins: [\"*\"]\n      credentials: true\n", 9, 20,
			"routes[0].cors.credentials", `origin "*" cannot be allowed with credentials`},
		{"any origin among others", route + "      origins: [https://a.example, \"*\"]\n", 8, 36,
			"routes[0].cors.origins[1]", "must be the only one"},
		{"origin with a path", route + "      origins: [https://a.example/]\n", 8, 17,
			"routes[0].cors.origins[0]", "no path"},
		{"origin without a scheme", route + "      origins: [a.example]\n", 8, 17,
			"routes[0].cors.origins[0]", "is not an origin"},
		{"wildcard inside a name", route + "      origins: [\"https://a*.example\"]\n", 8, 17,
			"routes[0].cors.origins[0]", "a wildcard must start the host"},
		{"lower-case method", route + "      origins: [https://a.example]\n      methods: [GET, post]\n", 9, 22,
			"routes[0].cors.methods[1]", "case-sensitive"},
		{"bad header", route + "      origins: [https://a.example]\n      expose_headers: [\"X Id\"]\n", 9, 24,
			"routes[0].cors.expose_headers[0]", "not a header field name"},
		{"max age in fractions", route + "      origins: [https://a.example]\n      max_age: 1500ms\n", 9, 16,
			"routes[0].cors.max_age", "whole number of seconds"},
		{"in the defaults", nodes + "defaults:\n  cors: {origins: [\"*\"], credentials: true}\nroutes:\n  - {path: /a, service: svc}\n", 5, 39,
			"defaults.cors.credentials", "cannot be allowed with credentials"},
	}
	for _, tt := range tests {
		_, err := config.Parse("gateway.yaml", []byte(tt.yaml))
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v, want a *config.Error", tt.name, err)
			continue
		}
		if ce.Line != tt.line || ce.Column != tt.col || ce.Path != tt.path || !strings.Contains(ce.Msg, tt.msg) {
			t.Errorf("%s: got %s, want gateway.yaml:%d:%d: %s: ...%s...", tt.name, err, tt.line, tt.col, tt.path, tt.msg)
		}
	}
}

// TestCORSDefaultsAndOptOut checks that defaults.cors applies to the routes
// without their own block, that a route's block replaces it, and that
// disabled turns it off.
func TestCORSDefaultsAndOptOut(t *testing.T) {
	src := nodes + `defaults:
  cors: {origins: ["https://app.example.com"]}
routes:
  - {path: /inherits, service: svc}
  - {path: /own, service: svc, cors: {origins: ["*"]}}
  - {path: /off, service: svc, cors: {disabled: true}}
`
	c, err := config.Parse("gateway.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if got := c.RouteCORS(i) != nil; got != want {
			t.Errorf("route %d has CORS %v, want %v", i, got, want)
		}
	}
	plain, err := config.Parse("gateway.yaml", []byte(nodes+"routes:\n  - {path: /a, service: svc}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.RouteCORS(0) != nil {
		t.Error("a route has CORS though nothing configures it")
	}
}
