package otlp

import (
	"context"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Option changes what NewProvider builds beyond its Settings.
type Option func(*options)

type options struct {
	observe func(spans int, err error)
	ended   func()
}

// WithExportObserver makes the provider tell fn of every export it
// attempts: how many spans it carried, and its error, nil when the
// receiver took them. A failed export's spans are lost: the exporter
// retries within its own timeout, never after, and the next batch is
// another. fn is then the only report of the failure: OpenTelemetry's
// global error handler, which prints each one unstructured on standard
// error, is not told of it. fn is called from the batcher's goroutine,
// one export at a time; it must not block.
func WithExportObserver(fn func(spans int, err error)) Option {
	return func(o *options) { o.observe = fn }
}

// observedExporter reports each export's outcome to observe.
type observedExporter struct {
	sdktrace.SpanExporter
	observe func(spans int, err error)
}

// ExportSpans exports spans and reports how it went. The error is the
// observer's to report, not the batcher's: it would hand it to the global
// error handler, a second, unstructured report of the same failure.
func (e *observedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	e.observe(len(spans), e.SpanExporter.ExportSpans(ctx, spans))
	return nil
}

// WithEndedObserver makes the provider call fn for every sampled span that
// ends, as it is handed to the batcher's queue. The batcher drops the spans
// that end while its queue is full and tells no one: the spans ended less
// those exported or failed (WithExportObserver), beyond what the queue and
// the batch being exported hold, are the ones it dropped. fn is called on
// the goroutine that ends the span, a request's: it must be cheap and must
// not block.
func WithEndedObserver(fn func()) Option {
	return func(o *options) { o.ended = fn }
}

// endCounter tells ended of each sampled span the processor it wraps (the
// batcher) is given.
type endCounter struct {
	sdktrace.SpanProcessor
	ended func()
}

// OnEnd counts s, when sampled (the batcher ignores the others), and hands
// it on.
func (p *endCounter) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.ended()
	}
	p.SpanProcessor.OnEnd(s)
}
