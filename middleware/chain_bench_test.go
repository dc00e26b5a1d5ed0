package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/router"
)

// BenchmarkEdgeChain measures what every request pays in the gateway's
// outer layers: the Recorder, a request id made, the metrics by route,
// method and code, and the budget histogram, with the access log off.
func BenchmarkEdgeChain(b *testing.B) {
	m := middleware.NewMetrics(prometheus.NewRegistry())
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := w.(router.Annotator); ok {
			a.NoteRoute("greet", "greeter")
			a.NoteBudget(time.Second, time.Now().Add(time.Second))
		}
		w.WriteHeader(http.StatusOK)
	})
	for _, c := range []struct {
		name string
		mws  []func(http.Handler) http.Handler
	}{
		{"recorder", []func(http.Handler) http.Handler{middleware.AccessLog(nil, nil), middleware.Recover(nil)}},
		{"recorder+metrics", []func(http.Handler) http.Handler{middleware.AccessLog(nil, nil), m.Handler, middleware.Recover(nil)}},
		{"recorder+id+metrics", []func(http.Handler) http.Handler{middleware.AccessLog(nil, nil), middleware.RequestID(nil),
			m.Handler, middleware.Recover(nil)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := middleware.Chain(c.mws...)(app)
			r := httptest.NewRequest("GET", "/greet/Ada", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				clear(w.h)
				delete(r.Header, "X-Request-Id")
				h.ServeHTTP(w, r)
			}
			// CPU time, unlike ns/op, does not count the time the
			// benchmark waited for a core on a shared machine.
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
