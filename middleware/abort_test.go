package middleware_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/middleware"
)

// An answer aborted after its header (http.ErrAbortHandler) passes through
// the whole chain to the server, and is still logged, marked aborted, and
// counted.
func TestAbortIsRecordedAndPassedOn(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	h := middleware.Chain(middleware.AccessLog(logger, nil), m.Handler, middleware.Recover(logger))(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("part of it"))
			panic(http.ErrAbortHandler)
		}))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler passed on to the server", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/cut", nil))
	}()

	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["msg"] != "request" || lines[0]["aborted"] != true ||
		lines[0]["status"] != float64(200) || lines[0]["bytes"] != float64(10) || lines[0]["path"] != "/cut" {
		t.Errorf("log %v, want one request line, status 200, 10 bytes, aborted", lines)
	}
	const want = `
# HELP sluice_requests_aborted_total Requests whose answer was cut off after its header was sent (also counted in sluice_requests_total).
# TYPE sluice_requests_aborted_total counter
sluice_requests_aborted_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_requests_aborted_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "sluice_requests_total"); err != nil || n != 1 {
		t.Errorf("requests_total series = %d (%v), want the request counted", n, err)
	}
	if got := gauge(t, reg, "sluice_requests_in_flight"); got != 0 {
		t.Errorf("in flight after the abort = %v, want 0", got)
	}

	// A request that ends normally is not marked.
	buf.Reset()
	middleware.AccessLog(logger, nil)(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if lines := logLines(t, &buf); len(lines) != 1 || lines[0]["aborted"] != nil {
		t.Errorf("log %v, want one line without aborted", lines)
	}
}
