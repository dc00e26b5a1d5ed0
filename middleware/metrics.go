package middleware

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the gateway's request metrics. Register it with a
// prometheus.Registerer of main's choosing; there is no global.
type Metrics struct {
	requests *prometheus.CounterVec
	duration prometheus.Histogram
	inflight prometheus.Gauge
	aborted  prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_requests_total", Help: "Requests answered by the gateway, by status code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_request_duration_seconds", Help: "Time from a request's arrival to the end of its answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_requests_in_flight", Help: "Requests being served.",
		}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_requests_aborted_total",
			Help: "Requests whose answer was cut off after its header was sent (also counted in sluice_requests_total).",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight, m.aborted)
	return m
}

// Handler returns middleware that records each request. It must sit inside
// AccessLog, whose Recorder it reads the status and arrival from. A request
// whose handler panics (http.ErrAbortHandler cutting an answer short) is
// recorded too, and counted as aborted; the panic goes on.
func (m *Metrics) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inflight.Inc()
		returned := false
		defer func() {
			m.inflight.Dec()
			if !returned { // a panic unwinds, not recovered here
				m.record(w, r)
				m.aborted.Inc()
			}
		}()
		next.ServeHTTP(w, r)
		returned = true
		m.record(w, r)
	})
}

func (m *Metrics) record(w http.ResponseWriter, r *http.Request) {
	rec, ok := w.(*Recorder)
	if !ok {
		return
	}
	status := rec.Status()
	if r.Context().Err() == context.Canceled {
		status = 499 // as AccessLog logs it: the client left
	}
	m.requests.WithLabelValues(statusLabel(status)).Inc()
	m.duration.Observe(time.Since(rec.Arrival()).Seconds())
}

var statusLabels = func() map[int]string {
	m := make(map[int]string)
	for code := 100; code < 600; code++ {
		m[code] = strconv.Itoa(code)
	}
	return m
}()

func statusLabel(code int) string {
	if s, ok := statusLabels[code]; ok {
		return s
	}
	return strconv.Itoa(code)
}
