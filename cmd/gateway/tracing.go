package main

import (
	"context"
	"net/http"

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
func newTracing(cfg *config.Config) (*tracing.Tracer, func(context.Context) error, error) {
	if !cfg.Tracing.Enabled {
		return nil, func(context.Context) error { return nil }, nil
	}
	tp, err := otlp.NewProvider(context.Background(), cfg.Tracing.Settings())
	if err != nil {
		return nil, nil, err
	}
	var opts []tracing.Option
	if !cfg.Tracing.TrustsClients() {
		opts = append(opts, tracing.PublicEndpoint())
	}
	return tracing.New(tp, opts...), tp.Shutdown, nil
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
