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
	// public: server spans start new traces and link the incoming
	// context (PublicEndpoint).
	public bool
}

// Option changes how a Tracer treats the requests it serves.
type Option func(*Tracer)

// PublicEndpoint makes the server spans (Route, Inbound) distrust the trace
// context a request arrives with, as otelhttp's WithPublicEndpoint does:
// each starts a new trace, sampled by the provider's own sampler, and keeps
// the request's valid traceparent as a link, not as its parent; the request
// the handler is given carries no trace context field of the client's
// (traceparent, tracestate, baggage, nor another format's: contextField), so
// that nothing it forwards continues them. Without it a parent-based sampler
// lets any client choose whether it is traced (the sampled flag: out of
// sight, or every request into the trace store) and which trace the spans
// join. It is for servers whose clients are the public internet: the
// gateway, unless its clients are trusted (tracing.client_context:
// continue). Backends behind it continue their callers' traces.
func PublicEndpoint() Option { return func(t *Tracer) { t.public = true } }

// New returns a Tracer over tp, or nil (tracing off) when tp is nil. A
// backend that set otel's global provider passes otel.GetTracerProvider().
func New(tp trace.TracerProvider, opts ...Option) *Tracer {
	if tp == nil {
		return nil
	}
	t := &Tracer{tracer: tp.Tracer(ScopeName)}
	for _, o := range opts {
		o(t)
	}
	return t
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

// incoming returns the context a server span for a request with header h
// starts in, and the options that place it: the child of h's traceparent,
// or, with PublicEndpoint, the root of a new trace that links it. The link
// keeps the client's ids and flags, not its tracestate: that is the
// client's trace's, not the gateway's.
func (t *Tracer) incoming(ctx context.Context, h http.Header) (context.Context, []trace.SpanStartOption) {
	if !t.public {
		return t.extract(ctx, h), nil
	}
	opts := []trace.SpanStartOption{trace.WithNewRoot()}
	if sc := trace.SpanContextFromContext(t.extract(context.Background(), h)); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc.WithTraceState(trace.TraceState{})}))
	}
	return ctx, opts
}

// StripContext is middleware that removes the client's trace context from
// a request before next sees it: W3C's traceparent, tracestate and baggage,
// and the fields of the other formats a backend's tracer may read (B3,
// Jaeger, OpenTracing, Datadog, AWS X-Ray, Google Cloud: contextField), so
// that what next forwards carries no trace context of the client's: a
// backend's tracer would continue it as its caller's. It is what the
// gateway does with tracing off and client_context link, the trust
// boundary being the edge. next is given a copy of the request (only when
// it has such a field), so the caller's request, which an access log
// reads, keeps them.
func StripContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, withoutContext(r))
	})
}

// withoutContext returns r when it has no trace context field
// (contextField), else a shallow copy of r whose header is a copy without
// them. W3C baggage travels with the trace context, and OpenTelemetry's
// propagators hand it to a backend's code as its caller's: from a public
// client, it is no more to be trusted than the trace it rides with; nor
// are the other formats' traces and baggage, which the gateway does not
// propagate but a backend may read.
func withoutContext(r *http.Request) *http.Request {
	if !hasContext(r.Header) {
		return r
	}
	h := r.Header.Clone()
	for k := range h {
		if contextField(k) {
			delete(h, k)
		}
	}
	r = r.WithContext(r.Context())
	r.Header = h
	return r
}

// hasContext reports whether h has a trace context field: one pass over
// its keys, without allocating.
func hasContext(h http.Header) bool {
	for k := range h {
		if contextField(k) {
			return true
		}
	}
	return false
}
