package demo

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/tracing/otlp"
)

// Tracing flags: with -otlp set, the example exports its spans there, its
// server continues the caller's trace and its client's attempts are spans.
var (
	otlpEndpoint = flag.String("otlp", "", "OTLP receiver (host:port or URL) to export spans to; empty turns tracing off")
	otlpProtocol = flag.String("otlp-protocol", otlp.ProtocolHTTP, "OTLP protocol: http or grpc")
	traceSample  = flag.Float64("trace-sample", 1, "share of new traces sampled, 0 to 1")
)

// tracer is the example's tracer, nil when tracing is off. Main sets it
// before serve runs.
var tracer *tracing.Tracer

// startTracing builds the tracer of service from the flags and returns the
// function that flushes its last spans.
func startTracing(service string) (func(), error) {
	if *otlpEndpoint == "" {
		return func() {}, nil
	}
	tp, err := otlp.NewProvider(context.Background(), otlp.Settings{
		Endpoint: *otlpEndpoint, Protocol: *otlpProtocol, SampleRatio: *traceSample, ServiceName: service,
	})
	if err != nil {
		return nil, fmt.Errorf("-otlp: %w", err)
	}
	tracer = tracing.New(tp)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}, nil
}
