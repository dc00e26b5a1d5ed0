package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sluicehq/sluice/middleware"
)

// A handler's answers compressed with gzip or zstd, whichever the client
// prefers, from 1 KiB (the default size) up.
func ExampleNewCompress() {
	c, err := middleware.NewCompress(middleware.CompressSettings{Algorithms: []string{"zstd", "gzip"}})
	if err != nil {
		panic(err)
	}
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items": [%s0]}`, strings.Repeat("0, ", 1000))
	}))

	req := httptest.NewRequest("GET", "/items", nil)
	req.Header.Set("Accept-Encoding", "gzip;q=1, zstd;q=0.5")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Header().Get("Content-Encoding"), rec.Header().Get("Vary"))
	// Output: gzip Accept-Encoding
}
