package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// traceExportLogEvery is the least time between two log lines of a trace
// receiver that keeps failing: the first failure is logged at once, the
// next ones at most this often, each line with the exports and spans lost
// since the last.
const traceExportLogEvery = time.Minute

// traceExports logs and counts the exports of the gateway's spans: a
// receiver down, blackholed or slow never holds a request (spans are
// batched and dropped beyond the batcher's queue), so this is where it
// shows: sluice_trace_export_spans_total{result="failed"} and a warning
// when exports start failing, one a minute while they keep failing, and
// an info line when they succeed again.
type traceExports struct {
	logger *slog.Logger
	spans  *prometheus.CounterVec
	// ended counts the sampled spans handed to the batcher: those ended
	// while its queue is full are dropped, and only ended less exported
	// and failed tells how many.
	ended prometheus.Counter

	mu      sync.Mutex
	failing bool      // the last export failed
	logged  time.Time // when the last failure was logged
	exports int       // failed exports not logged yet
	lost    int       // their spans
}

func newTraceExports(reg prometheus.Registerer, logger *slog.Logger) *traceExports {
	e := &traceExports{logger: logger, spans: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_trace_export_spans_total",
		Help: "Spans the gateway sent to its trace receiver, by result (exported, failed: lost).",
	}, []string{"result"}), ended: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_trace_spans_ended_total",
		Help: "Sampled spans the gateway ended and queued for export; those neither exported nor failed, beyond the queue's 2048 and a batch of 512, were dropped.",
	})}
	reg.MustRegister(e.spans, e.ended)
	return e
}

// spanEnded is the provider's ended observer (otlp.WithEndedObserver).
func (e *traceExports) spanEnded() { e.ended.Inc() }

// observe is the provider's export observer (otlp.WithExportObserver).
func (e *traceExports) observe(spans int, err error) {
	result := "exported"
	if err != nil {
		result = "failed"
	}
	e.spans.WithLabelValues(result).Add(float64(spans))
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		if e.failing {
			e.failing = false
			e.logger.Info("trace export recovered")
		}
		return
	}
	e.exports++
	e.lost += spans
	now := time.Now()
	if e.failing && now.Sub(e.logged) < traceExportLogEvery {
		return
	}
	e.logger.Warn("trace export failed; its spans are dropped, requests are not affected",
		slog.Int("exports", e.exports), slog.Int("spans", e.lost), slog.String("error", err.Error()))
	e.failing, e.logged, e.exports, e.lost = true, now, 0, 0
}
