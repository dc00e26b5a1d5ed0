package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/router"
)

// A backend chooses its answers' status codes, any three digits, and a
// client chooses among the methods, so a route can see thousands of
// (method, status) pairs: an httpbin-like service answers /status/{code}
// with that code. The metrics' per-route list of label sets was scanned
// whole on every request, so a client that walked a route through them
// made every later request of the route scan thousands of entries.

// statusesHandler answers with the status its query names, for the route
// the path names.
func statusesHandler(m *middleware.Metrics) http.Handler {
	return middleware.Chain(middleware.AccessLog(nil, nil), m.Handler)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(router.Annotator).NoteRoute(r.URL.Path, "svc")
		code, _ := strconv.Atoi(r.URL.Query().Get("s"))
		w.WriteHeader(code)
	}))
}

var walkMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW"}

// walkStatuses has h answer route /r with every status from 200 to 999
// to every one of walkMethods (1xx codes are not final: the recorder
// counts the 200 after them).
func walkStatuses(h http.Handler) {
	for _, method := range walkMethods {
		for code := 200; code <= 999; code++ {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/r?s="+strconv.Itoa(code), nil))
		}
	}
}

// TestMetricsManyStatusesCountedRight: after a walk through every
// method and status, every label set counts what it got: a registered code
// and 499 under its own label, another one of 100 to 599 under its class,
// the statuses past 599 together as "other".
func TestMetricsManyStatusesCountedRight(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := middleware.NewMetrics(reg)
	h := statusesHandler(m)
	walkStatuses(h)
	walkStatuses(h)
	for _, c := range []struct {
		method, code string
		want         float64
	}{
		{"GET", "200", 2}, {"HEAD", "204", 2}, {"DELETE", "404", 2}, {"GET", "418", 2}, {"PUT", "499", 2},
		{"GET", "other", 2 * 400}, {"OTHER", "other", 2 * 400},
	} {
		if got := requestsCounted(t, reg, "/r", c.method, c.code); got != c.want {
			t.Errorf("route /r, %s %s: %v requests, want %v", c.method, c.code, got, c.want)
		}
	}
	// Unregistered codes: 599 and 299 among those counted by class.
	for _, class := range []string{"2xx", "5xx"} {
		if got := requestsCounted(t, reg, "/r", "OTHER", class); got < 2 {
			t.Errorf("route /r, OTHER %s: %v requests, want 599's (or 299's) 2 at least", class, got)
		}
	}
}

// TestAWalkThroughEveryStatusMakesFewSeries: a client walking a route
// through every method and every status its backend answers adds some
// 70 series a method, not 500 (every code of 100 to 599 its label: 5,000
// a route), and every request is counted in one of them.
func TestAWalkThroughEveryStatusMakesFewSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := statusesHandler(middleware.NewMetrics(reg))
	walkStatuses(h)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series, requests := 0, 0.0
	for _, f := range families {
		if f.GetName() != "sluice_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			series++
			requests += mt.GetCounter().GetValue()
		}
	}
	if perMethod := series / len(walkMethods); perMethod > 80 {
		t.Errorf("%d series for %d methods (%d a method), want at most 80 a method", series, len(walkMethods), perMethod)
	}
	if want := float64(len(walkMethods) * 800); requests != want {
		t.Errorf("%v requests counted, want %v", requests, want)
	}
}

// requestsCounted returns the value of sluice_requests_total of labels,
// read from the registry's gathered families.
func requestsCounted(t *testing.T, reg *prometheus.Registry, route, method, code string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "sluice_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["method"] == method && labels["code"] == code {
				return mt.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no sluice_requests_total{route=%q,method=%q,code=%q}", route, method, code)
	return 0
}

// BenchmarkMetricsAfterManyStatuses is the cost of recording a request of
// a route whose backend answered every status to every method before,
// the request's label set the last seen of them (a 503 first seen in an
// incident, after a walk), against that of a route that saw only it.
func BenchmarkMetricsAfterManyStatuses(b *testing.B) {
	for _, walked := range []bool{false, true} {
		b.Run(fmt.Sprintf("walked=%v", walked), func(b *testing.B) {
			m := middleware.NewMetrics(prometheus.NewRegistry())
			h := statusesHandler(m)
			if walked {
				walkStatuses(h)
			}
			req := httptest.NewRequest("BREW", "/r?s=999", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
