package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/middleware"
)

// BenchmarkCompressJSON compresses a 1 MiB JSON answer with each coding at
// the default level: the gateway's CPU per such answer (b.SetBytes gives
// the throughput of the uncompressed body).
func BenchmarkCompressJSON(b *testing.B) {
	body := bigJSON(1 << 20)
	c, err := middleware.NewCompress(middleware.CompressSettings{})
	if err != nil {
		b.Fatal(err)
	}
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	for _, coding := range []string{"zstd", "br", "gzip"} {
		b.Run(coding, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", coding)
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				h.ServeHTTP(discardWriter{make(http.Header, 4)}, req)
			}
		})
	}
}

// discardWriter is a ResponseWriter that drops what it is given.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (w discardWriter) WriteHeader(int)             {}
