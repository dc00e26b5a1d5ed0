package main

import (
	"context"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/tracing/otlp"
)

// newTracing returns the gateway's tracer and the function that flushes and
// stops its exporter, or a nil tracer and a no-op when tracing is off. The
// provider lives for the whole process: a reload keeps it, as it keeps the
// client.
func newTracing(cfg *config.Config) (*tracing.Tracer, func(context.Context) error, error) {
	if !cfg.Tracing.Enabled {
		return nil, func(context.Context) error { return nil }, nil
	}
	tp, err := otlp.NewProvider(context.Background(), cfg.Tracing.Settings())
	if err != nil {
		return nil, nil, err
	}
	return tracing.New(tp), tp.Shutdown, nil
}
