package middleware_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

// The access log written through a JSONHandler: slog's JSON lines, each
// written by the access log's own encoder. The clock here is a fixed one,
// and the line's time is left out of what is printed.
func ExampleJSONHandler() {
	var out bytes.Buffer
	logger := slog.New(middleware.NewJSONHandler(&out, nil))
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ticks := []time.Time{t0, t0.Add(1500 * time.Microsecond)}
	clock := func() time.Time { t := ticks[0]; ticks = ticks[1:]; return t }

	h := middleware.AccessLog(logger, clock)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders/7%0A", nil))

	line := out.Bytes()
	fmt.Printf("%s", line[bytes.Index(line, []byte(`"level"`)):])
	// Output: "level":"INFO","msg":"request","method":"GET","path":"/orders/7\n","status":200,"duration":1500000,"bytes":2,"remote":"192.0.2.1:1234","host":"example.com"}
}
