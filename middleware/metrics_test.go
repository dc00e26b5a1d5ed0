package middleware_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/router"
)

func TestMetricsCountByRouteMethodAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	var inflight float64
	h := middleware.Chain(middleware.AccessLog(nil, nil), m.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight = gauge(t, reg, "sluice_requests_in_flight")
		if r.URL.Path != "/missing" { // as the router notes a matched route
			w.(router.Annotator).NoteRoute("r"+r.URL.Path, "svc")
			w.(router.Annotator).NoteBudget(2*time.Second, time.Now().Add(2*time.Second))
		}
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
		method, path string
		cancel       bool
	}{
		{"GET", "/ok", false}, {"GET", "/ok", false}, {"POST", "/ok", false},
		{"PUT", "/created", false},
		{"GET", "/missing", false}, {"BREW", "/missing", false}, // an invented method is OTHER
		{"GET", "/silent", true},  // the client left before any answer: 499
		{"GET", "/missing", true}, // the client left: 499, as the access log says, whatever was chosen
	}
	for _, req := range requests {
		ctx, cancel := context.WithCancel(context.Background())
		if req.cancel {
			cancel()
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil).WithContext(ctx))
		cancel()
		if inflight != 1 {
			t.Errorf("in flight during %s = %v, want 1", req.path, inflight)
		}
	}

	const want = `
# HELP sluice_requests_total Requests answered by the gateway, by route, method and status code.
# TYPE sluice_requests_total counter
sluice_requests_total{code="200",method="GET",route="r/ok"} 2
sluice_requests_total{code="200",method="POST",route="r/ok"} 1
sluice_requests_total{code="201",method="PUT",route="r/created"} 1
sluice_requests_total{code="404",method="GET",route="(none)"} 1
sluice_requests_total{code="404",method="OTHER",route="(none)"} 1
sluice_requests_total{code="499",method="GET",route="(none)"} 1
sluice_requests_total{code="499",method="GET",route="r/silent"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_requests_total"); err != nil {
		t.Error(err)
	}
	if got := gauge(t, reg, "sluice_requests_in_flight"); got != 0 {
		t.Errorf("in flight after = %v, want 0", got)
	}
	// Durations by class: r/ok GET 2xx, r/ok POST 2xx, r/created PUT 2xx,
	// (none) GET 4xx, (none) OTHER 4xx, r/silent GET 4xx.
	if n, err := testutil.GatherAndCount(reg, "sluice_request_duration_seconds"); err != nil || n != 6 {
		t.Errorf("duration histogram: %d series, %v; want 6", n, err)
	}
	if c := histogramCount(t, reg, "sluice_request_duration_seconds"); c != uint64(len(requests)) {
		t.Errorf("duration observations = %d, want %d", c, len(requests))
	}
	// The budget granted, per route: 5 requests were granted one.
	if c := histogramCount(t, reg, "sluice_budget_granted_seconds"); c != 5 {
		t.Errorf("budget granted observations = %d, want 5", c)
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
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestHistogramsAreNativeToo: the duration histogram carries native
// (sparse) buckets beside its classic ones, for a Prometheus that scrapes
// them.
func TestHistogramsAreNativeToo(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	h := middleware.Chain(middleware.AccessLog(nil, nil), m.Handler)(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sluice_request_duration_seconds" {
			continue
		}
		hist := mf.GetMetric()[0].GetHistogram()
		if len(hist.GetBucket()) != len(middleware.DurationBuckets) {
			t.Errorf("%d classic buckets, want %d", len(hist.GetBucket()), len(middleware.DurationBuckets))
		}
		if hist.Schema == nil || len(hist.GetPositiveSpan())+len(hist.GetNegativeSpan()) == 0 && hist.GetZeroCount() == 0 {
			t.Errorf("no native histogram: %v", hist)
		}
		return
	}
	t.Fatal("no sluice_request_duration_seconds")
}

// TestMetricsConcurrentSeries: requests of many label sets at once, whose
// series are made while others are counted, each count every request.
func TestMetricsConcurrentSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	h := middleware.Chain(middleware.AccessLog(nil, nil), m.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(router.Annotator).NoteRoute(r.URL.Path, "svc")
		if r.URL.Query().Has("teapot") {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	const workers, each = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				target := fmt.Sprintf("/r%d", (w+i)%3)
				if i%2 == 1 {
					target += "?teapot"
				}
				method := []string{"GET", "POST"}[i%4/2]
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, target, nil))
			}
		}()
	}
	wg.Wait()
	var want strings.Builder
	want.WriteString("# HELP sluice_requests_total Requests answered by the gateway, by route, method and status code.\n# TYPE sluice_requests_total counter\n")
	counts := map[string]int{}
	for w := range workers {
		for i := range each {
			code := []string{"200", "418"}[i%2]
			counts[fmt.Sprintf(`sluice_requests_total{code="%s",method="%s",route="/r%d"}`, code, []string{"GET", "POST"}[i%4/2], (w+i)%3)]++
		}
	}
	keys := slices.Sorted(maps.Keys(counts))
	for _, k := range keys {
		fmt.Fprintf(&want, "%s %d\n", k, counts[k])
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "sluice_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestASwitchedRequestIsObservedToItsSwitch: a handler that takes the
// connection (a WebSocket's tunnel) returns when the tunnel ends, an hour
// on here; the duration histogram observes the 50 ms to the switch, while
// the access log's line tells the connection's whole life.
func TestASwitchedRequestIsObservedToItsSwitch(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	t0 := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := t0
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	var logged strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	h := middleware.Chain(middleware.AccessLog(logger, now), m.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(router.Annotator).NoteRoute("ws", "svc")
		advance(50 * time.Millisecond) // the node's handshake
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
		conn.Close()
		advance(time.Hour) // the tunnel
	}))
	served := make(chan struct{}) // the access log and the metrics have recorded it
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-served
	var sum float64
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sluice_request_duration_seconds" {
			for _, mt := range mf.GetMetric() {
				if n := mt.GetHistogram().GetSampleCount(); n != 1 {
					t.Fatalf("%d observations, want 1", n)
				}
				sum = mt.GetHistogram().GetSampleSum()
			}
		}
	}
	if sum != 0.05 {
		t.Errorf("the switched request was observed at %v s, want 0.05 (to its switch)", sum)
	}
	if !strings.Contains(logged.String(), `"status":101,"duration":3600050000000`) {
		t.Errorf("access log %s: want status 101 and the whole hour and 50 ms", logged.String())
	}
}
