package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of Sluice's spans.
const ScopeName = "github.com/sluicehq/sluice"

// RequestIDHeader is the field whose value becomes a span's
// AttrRequestID.
const RequestIDHeader = "X-Request-Id"

// Tracer makes Sluice's spans with a TracerProvider and propagates them as
// W3C trace context (traceparent and tracestate). It is safe for concurrent
// use. A nil *Tracer means tracing is off.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TraceContext
}

// New returns a Tracer over tp, or nil (tracing off) when tp is nil. A
// backend that set otel's global provider passes otel.GetTracerProvider().
func New(tp trace.TracerProvider) *Tracer {
	if tp == nil {
		return nil
	}
	return &Tracer{tracer: tp.Tracer(ScopeName)}
}

// Inject writes the trace context of ctx's span into h, replacing the
// traceparent and tracestate fields h had (the trace's tracestate goes on
// with the span, as W3C trace context says). A context without a valid span
// leaves h as it is.
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	delete(h, "Tracestate") // the span's own state, if any, replaces it
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// extract returns ctx with the remote span context that h's traceparent
// names, when it names a valid one.
func (t *Tracer) extract(ctx context.Context, h http.Header) context.Context {
	return t.prop.Extract(ctx, propagation.HeaderCarrier(h))
}
