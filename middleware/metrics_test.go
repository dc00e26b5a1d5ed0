package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/middleware"
)

func TestMetricsCountByCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	var inflight float64
	h := middleware.Chain(middleware.AccessLog(nil, nil), m.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight = gauge(t, reg, "sluice_requests_in_flight")
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/missing":
			http.NotFound(w, r)
		case "/silent": // writes nothing
		}
	}))

	requests := []struct {
		path   string
		cancel bool
	}{
		{"/ok", false}, {"/ok", false}, {"/ok", false},
		{"/created", false},
		{"/missing", false}, {"/missing", false},
		{"/silent", true},  // the client left before any answer: 499
		{"/missing", true}, // the client left: 499, as the access log says, whatever was chosen
	}
	for _, req := range requests {
		ctx, cancel := context.WithCancel(context.Background())
		if req.cancel {
			cancel()
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", req.path, nil).WithContext(ctx))
		cancel()
		if inflight != 1 {
			t.Errorf("in flight during %s = %v, want 1", req.path, inflight)
		}
	}

	const want = `
# HELP sluice_requests_total Requests answered by the gateway, by status code.
# TYPE sluice_requests_total counter
sluice_requests_total{code="200"} 3
sluice_requests_total{code="201"} 1
sluice_requests_total{code="404"} 2
sluice_requests_total{code="499"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_requests_total"); err != nil {
		t.Error(err)
	}
	if got := gauge(t, reg, "sluice_requests_in_flight"); got != 0 {
		t.Errorf("in flight after = %v, want 0", got)
	}
	if n, err := testutil.GatherAndCount(reg, "sluice_request_duration_seconds"); err != nil || n != 1 {
		t.Errorf("duration histogram: %d series, %v", n, err)
	}
	if c := histogramCount(t, reg, "sluice_request_duration_seconds"); c != uint64(len(requests)) {
		t.Errorf("duration observations = %d, want %d", c, len(requests))
	}
}

// TestMetricsNeedTheRecorder checks the documented order: outside AccessLog,
// Metrics has no Recorder to read and counts nothing.
func TestMetricsNeedTheRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	h := middleware.Chain(m.Handler, middleware.AccessLog(nil, nil))(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if n, err := testutil.GatherAndCount(reg, "sluice_requests_total"); err != nil || n != 0 {
		t.Errorf("%d request series (%v), want none", n, err)
	}
}

func TestNewMetricsRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	middleware.NewMetrics(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering the metrics twice on one registry did not panic")
		}
	}()
	middleware.NewMetrics(reg)
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
