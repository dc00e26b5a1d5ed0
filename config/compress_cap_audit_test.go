package config_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestCompressMaxEncoders: max_encoders reaches the route's policy, and a
// negative one is refused at the field. The count is the process's: while
// a stream of the route with max_encoders 1 holds an encoder, that route's
// next answer goes uncompressed and another route's (the default, 128)
// does not.
func TestCompressMaxEncoders(t *testing.T) {
	_, err := config.Parse("gateway.yaml", []byte(nodes+"routes:\n  - {path: /a, service: svc, compress: {max_encoders: -1}}\n"))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Path != "routes[0].compress.max_encoders" || !strings.Contains(ce.Msg, "must be 0") {
		t.Errorf("max_encoders -1: got %v, want an error at routes[0].compress.max_encoders", err)
	}
	c, err := config.Parse("gateway.yaml", []byte(nodes+`routes:
  - {path: /one, service: svc, compress: {max_encoders: 1}}
  - {path: /other, service: svc, compress: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	flushed, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stream := c.RouteCompress(0).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		close(flushed)
		<-release
	}))
	held := serve(stream)
	go func() { defer close(done); held.run() }()
	<-flushed
	defer func() { close(release); <-done }()
	if got := held.rec.Header().Get("Content-Encoding"); got != "zstd" {
		t.Fatalf("the stream went with Content-Encoding %q, want zstd", got)
	}
	for i, want := range []string{"", "zstd"} {
		a := serve(c.RouteCompress(i).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(make([]byte, 4096))
		})))
		a.run()
		if got := a.rec.Header().Get("Content-Encoding"); got != want {
			t.Errorf("route %d, one encoder in use: Content-Encoding %q, want %q", i, got, want)
		}
	}
}

// served is one request to a handler, asking for zstd.
type served struct {
	h   http.Handler
	rec *httptest.ResponseRecorder
	req *http.Request
}

func serve(h http.Handler) *served {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "zstd")
	return &served{h: h, rec: httptest.NewRecorder(), req: req}
}

func (s *served) run() { s.h.ServeHTTP(s.rec, s.req) }
