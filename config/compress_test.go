package config_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func TestCompressErrorsPointAtTheField(t *testing.T) {
	route := nodes + "routes:\n  - path: /a\n    service: svc\n    compress:\n" // fields on line 8, column 7
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path, msg string
	}{
		{"unknown algorithm", route + "      algorithms: [gzip, deflate]\n", 8, 26, "routes[0].compress.algorithms[1]", `unknown compression algorithm "deflate"`},
		{"algorithm twice", route + "      algorithms: [br, br]\n", 8, 24, "routes[0].compress.algorithms[1]", "listed twice"},
		{"negative size", route + "      min_size: -2\n", 8, 17, "routes[0].compress.min_size", "must be -1"},
		{"bad type", route + "      types_excluded: [image/png, png]\n", 8, 35, "routes[0].compress.types_excluded[1]", "is not a media type"},
		{"bad level", route + "      level: max\n", 8, 14, "routes[0].compress.level", `unknown compression level "max"`},
		{"in the defaults", nodes + "defaults:\n  compress: {level: 9}\nroutes:\n  - {path: /a, service: svc}\n", 5, 21,
			"defaults.compress.level", "unknown compression level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("gateway.yaml", []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *config.Error", err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || ce.Path != tt.path || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %v (line %d col %d path %s), want %d:%d %s: …%s…", err, ce.Line, ce.Column, ce.Path, tt.line, tt.col, tt.path, tt.msg)
			}
		})
	}
}

func TestCompressDefaultsAndOptOut(t *testing.T) {
	src := nodes + `defaults:
  compress: {}
routes:
  - {path: /inherits, service: svc}
  - {path: /own, service: svc, compress: {algorithms: [gzip]}}
  - {path: /off, service: svc, compress: {disabled: true}}
  - {path: /inherits-too, service: svc}
`
	c, err := config.Parse("gateway.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false, true} {
		if got := c.RouteCompress(i) != nil; got != want {
			t.Errorf("route %d compresses: %v, want %v", i, got, want)
		}
	}
	if c.RouteCompress(0) != c.RouteCompress(3) || c.RouteCompress(0) == c.RouteCompress(1) {
		t.Error("routes that take defaults.compress should share its policy, and only they")
	}
	plain, err := config.Parse("gateway.yaml", []byte(nodes+"routes:\n  - {path: /a, service: svc}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.RouteCompress(0) != nil {
		t.Error("compression is on without a compress block")
	}
}

// TestCompressEmptyExclusionList: types_excluded: [] excludes nothing,
// where leaving it out excludes the default types.
func TestCompressEmptyExclusionList(t *testing.T) {
	src := nodes + `routes:
  - {path: /none, service: svc, compress: {types_excluded: []}}
  - {path: /default, service: svc, compress: {}}
`
	c, err := config.Parse("gateway.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"zstd", ""} {
		h := c.RouteCompress(i).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(make([]byte, 4096))
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Encoding", "zstd")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding"); got != want {
			t.Errorf("route %d: an image/png answer got Content-Encoding %q, want %q", i, got, want)
		}
	}
}
