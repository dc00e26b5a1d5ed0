package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/tracing/otlp"
)

// newTracing returns the gateway's tracer and the function that flushes and
// stops its exporter, or a nil tracer and a no-op when tracing is off. The
// provider lives for the whole process: a reload keeps it, as it keeps the
// client. The gateway's clients are the public unless tracing.client_context
// says continue: its route spans then start traces of its own, sampled at
// its own ratio, that link the client's (tracing.PublicEndpoint).
//
// Its exports are logged to logger and counted in reg (traceExports): a
// receiver that fails is then told in the gateway's own log, once a
// minute, and in its metrics, rather than on standard error once per
// batch. A nil logger or reg leaves them to OpenTelemetry's global error
// handler.
func newTracing(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) (*tracing.Tracer, func(context.Context) error, error) {
	if !cfg.Tracing.Enabled {
		return nil, func(context.Context) error { return nil }, nil
	}
	var popts []otlp.Option
	if logger != nil && reg != nil {
		exports := newTraceExports(reg, logger)
		popts = append(popts, otlp.WithExportObserver(exports.observe), otlp.WithEndedObserver(exports.spanEnded))
	}
	tp, err := otlp.NewProvider(context.Background(), cfg.Tracing.Settings(), popts...)
	if err != nil {
		return nil, nil, err
	}
	var opts []tracing.Option
	if !cfg.Tracing.TrustsClients() {
		opts = append(opts, tracing.PublicEndpoint())
	}
	return tracing.New(tp, opts...), flushOnStop(tp.Shutdown, logger), nil
}

// traceFlushTimeout bounds the flush of the last spans when the gateway
// stops. A receiver that answers flushes a batch in milliseconds; one
// that is blackholed would otherwise hold the exit for the exporter's
// timeout (10 s, and once more for the batch in flight), or for the whole
// shutdown grace, after the requests have drained: past an orchestrator's
// patience (Kubernetes' 30 s), the gateway is killed instead.
const traceFlushTimeout = 2 * time.Second

// flushOnStop returns the stop function of a provider whose Shutdown is
// shutdown: it waits for the flush at most traceFlushTimeout (less when
// its context says so). The spans a failed flush loses are the receiver's
// fault, not the drain's: with a logger they are logged and the stop
// succeeds; without one the error says what it is about.
func flushOnStop(shutdown func(context.Context) error, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, traceFlushTimeout)
		defer cancel()
		err := shutdown(ctx)
		if err == nil {
			return nil
		}
		if logger != nil {
			logger.Warn("the last spans could not be flushed to the trace receiver; they are lost", slog.String("error", err.Error()))
			return nil
		}
		return fmt.Errorf("tracing: the last spans were not flushed: %w", err)
	}
}

// clientTraceFilter returns the route middleware that keeps a client's
// trace context fields (W3C's and the other formats': tracing.StripContext)
// from the backends when tracing is off and
// client_context is link: a backend's tracer would continue them, so a
// client would choose its trace and whether it is sampled there. Nil
// otherwise: with tracing on the route span does it (PublicEndpoint), and
// continue forwards them. Like the tracer, it is decided at start.
func clientTraceFilter(cfg *config.Config) func(http.Handler) http.Handler {
	if cfg.Tracing.Enabled || cfg.Tracing.TrustsClients() {
		return nil
	}
	return tracing.StripContext
}
