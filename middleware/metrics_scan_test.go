package middleware

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsScanIsBounded: however many label sets a route saw, a
// request scans at most scanSeries of them, and finds every one, the
// first scanSeries in the list and the rest by their pair
// (BenchmarkMetricsAfterManyStatuses prices the difference).
func TestMetricsScanIsBounded(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	methods := []string{"GET", "POST", "OTHER"}
	for _, method := range methods {
		for code := 200; code < 1000; code++ {
			if m.seriesOf("r", method, code) == nil {
				m.addSeries("r", method, code)
			}
		}
	}
	rs, _ := m.series.Load("r")
	if n := len(*rs.list.Load()); n != scanSeries {
		t.Errorf("the route's list holds %d label sets, want %d", n, scanSeries)
	}
	for _, method := range methods {
		for code := 200; code < 1000; code++ {
			s := m.seriesOf("r", method, code)
			if s == nil || s.method != method || s.status != code {
				t.Fatalf("%s %s: found %+v", method, strconv.Itoa(code), s)
			}
		}
	}
	if s := m.addSeries("r", "GET", 999); s != m.seriesOf("r", "GET", 999) {
		t.Error("adding a label set again made another child")
	}
}
