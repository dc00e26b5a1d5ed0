package middleware

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/promhist"
	"github.com/sluicehq/sluice/internal/rmap"
)

// NoRoute is the route label of requests that no route served: an unknown
// path, a refused path, a reserved path such as /healthz. (A request the
// listener's server refuses before any handler never reaches Metrics:
// the gateway counts it in sluice_listener_refusals_total.)
// Paths never become labels, so a scan of random paths adds no series.
const NoRoute = "(none)"

// Metrics holds the gateway's request metrics. Register it with a
// prometheus.Registerer of main's choosing; there is no global.
//
// Their labels are bounded: route is a route's name from the configuration
// (or NoRoute), method one of the methods of RFC 9110 and PATCH, or OTHER,
// code a status between 100 and 599, class its first digit ("2xx").
type Metrics struct {
	requests *prometheus.CounterVec
	duration *promhist.Vec
	inflight prometheus.Gauge
	aborted  prometheus.Counter
	granted  *promhist.Vec
	// series caches each label set's children, so that a request costs no
	// label hashing: by route (an rmap.Map, read without a lock), then in
	// a short list of the route's method and status pairs seen. A request
	// looks its route's name up and scans that list, where a sync.Map of
	// the three labels together hashed them all, about 490 instructions a
	// request. The list holds a route's first scanSeries pairs, the
	// ordinary ones; any more are looked up by their pair (routeSeries).
	series rmap.Map[string, *routeSeries]
}

// routeSeries is the children made for one route's label sets. The list is
// copied to add to it, under mu, so that readers scan it without a lock.
//
// A backend chooses its status codes, any three digits, and a client its
// methods: a service that answers /status/{code} with that code (as
// httpbin does) lets a client walk a route through ten thousand pairs.
// Scanned whole, the list then cost every later request of a pair found
// late in it (a 503 first seen in an incident) about 10 µs more, a fifth
// or more of what a request costs the gateway whole
// (BenchmarkMetricsAfterManyStatuses). So the list
// keeps the first scanSeries pairs and more holds the rest.
type routeSeries struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*series]
	more rmap.Map[seriesKey, *series] // the pairs past the list's scanSeries
}

// scanSeries is how many of a route's label sets its list holds: more than
// an ordinary route's methods and statuses, few enough to scan.
const scanSeries = 16

// seriesKey is a label set of a route looked up in routeSeries.more.
type seriesKey struct {
	method string
	status int
}

type series struct {
	method   string
	status   int
	requests prometheus.Counter
	duration prometheus.Observer
	granted  atomic.Pointer[prometheus.Observer] // looked up at the first budget: not every route grants one
}

// DurationBuckets are the classic buckets of the gateway's latency
// histograms, in seconds; the histograms are native too (see
// HistogramOpts).
var DurationBuckets = promhist.Durations

// BudgetBuckets are the classic buckets of the budget histograms, in
// seconds: budgets reach further than latencies.
var BudgetBuckets = promhist.Budgets

// HistogramOpts returns the options of a Sluice histogram: the classic
// buckets given, for every Prometheus and every dashboard, and a native
// (sparse) histogram beside them, which a Prometheus scraping with native
// histograms enabled reads instead, at a resolution of about 10 %. The
// upstream client's and backends' histograms (package metrics) have the
// same shape. Sluice's own are not client_golang's histograms but cheaper
// ones that write the same metrics for the same observations.
func HistogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return promhist.Opts(name, help, buckets)
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_requests_total", Help: "Requests answered by the gateway, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: promhist.NewVec("sluice_request_duration_seconds",
			"Time from a request's arrival to the end of its answer (of a switched connection, to its switch), by route, method and status class.", DurationBuckets,
			[]string{"route", "method", "class"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_requests_in_flight", Help: "Requests being served.",
		}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_requests_aborted_total",
			Help: "Requests whose answer was cut off after its header was sent (also counted in sluice_requests_total).",
		}),
		granted: promhist.NewVec("sluice_budget_granted_seconds",
			"Budget the gateway granted requests at the edge (hop 0), by route.", BudgetBuckets, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight, m.aborted, m.granted)
	return m
}

// Handler returns middleware that records each request. It must sit inside
// AccessLog, whose Recorder it reads the status, the arrival and the route
// from. A request whose handler panics (http.ErrAbortHandler cutting an
// answer short) is recorded too, and counted as aborted; the panic goes on.
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
	route := rec.notes.route
	if route == "" {
		route = NoRoute
	}
	method := MethodLabel(r.Method)
	s := m.seriesOf(route, method, status)
	if s == nil {
		s = m.addSeries(route, method, status)
	}
	s.requests.Inc()
	// A switched request (a WebSocket) is observed to its switch, not to
	// the end of the tunnel its handler ran: hours in the latency of a
	// route's 1xx class, which a dashboard's quantile over every class
	// would take for the route's latency.
	end := rec.Switched()
	if end.IsZero() {
		end = rec.Ended()
	}
	s.duration.Observe(end.Sub(rec.Arrival()).Seconds())
	if g := rec.notes.granted; g > 0 {
		o := s.granted.Load()
		if o == nil { // two requests racing here both look the same child up
			h := m.granted.WithLabelValues(route)
			o = &h
			s.granted.Store(o)
		}
		(*o).Observe(g.Seconds())
	}
}

// seriesOf returns the children of a label set, or nil if none was made.
func (m *Metrics) seriesOf(route, method string, status int) *series {
	if rs, ok := m.series.Load(route); ok {
		return rs.find(method, status)
	}
	return nil
}

func (rs *routeSeries) find(method string, status int) *series {
	if l := rs.list.Load(); l != nil {
		for _, s := range *l {
			if s.status == status && s.method == method {
				return s
			}
		}
		if len(*l) == scanSeries {
			if s, ok := rs.more.Load(seriesKey{method, status}); ok {
				return s
			}
		}
	}
	return nil
}

// addSeries makes the children of a label set, unless another request
// just did, and returns them.
func (m *Metrics) addSeries(route, method string, status int) *series {
	rs, _ := m.series.LoadOrStore(route, new(routeSeries))
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if s := rs.find(method, status); s != nil {
		return s
	}
	s := &series{method: method, status: status,
		requests: m.requests.WithLabelValues(route, method, statusLabel(status)),
		duration: m.duration.WithLabelValues(route, method, classLabel(status)),
	}
	var next []*series
	if l := rs.list.Load(); l != nil {
		if len(*l) == scanSeries {
			rs.more.LoadOrStore(seriesKey{method, status}, s) // under mu: none stored it since find
			return s
		}
		next = append(next, *l...) // a new array: readers hold the old
	}
	next = append(next, s)
	rs.list.Store(&next)
	return s
}

// MethodLabel returns the method label of a request's method: the method
// itself for the methods of RFC 9110 and PATCH, "OTHER" for any other, so
// that a client cannot add series by inventing methods.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

var statusLabels = func() map[int]string {
	m := make(map[int]string)
	for code := 100; code < 600; code++ {
		if http.StatusText(code) != "" || code == 499 {
			m[code] = strconv.Itoa(code)
		}
	}
	return m
}()

// statusLabel returns the code label of status: the code itself for the
// codes IANA registers (those net/http names) and 499, the gateway's own
// for a client that left first; for another code from 100 to 599, its
// class ("5xx"), which a query for code=~"5.." still matches; "0" for an
// answer never written; "other" beyond 599. A backend chooses its codes
// (an httpbin-like one answers any it is asked for), and every code of
// 100 to 599 its own label made some 5,000 series a route, a client
// walking it through them; the registered ones make some 70.
func statusLabel(code int) string {
	if s, ok := statusLabels[code]; ok {
		return s
	}
	switch {
	case code == 0:
		return "0"
	case code >= 100 && code < 600:
		return classLabel(code)
	}
	return "other"
}

var classLabels = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// classLabel returns the status class label: "2xx" for 200 to 299, and so
// on; "0xx" for an answer never written.
func classLabel(code int) string {
	if c := code / 100; c >= 0 && c < len(classLabels) {
		return classLabels[c]
	}
	return "other"
}
