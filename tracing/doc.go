// Package tracing makes the OpenTelemetry spans of Sluice: a server span per
// request at the gateway (named by its route) and at a backend, and a client
// span per upstream attempt, each carrying the budget it ran under. It exists
// so that the gateway, the companion client (upstream) and a backend's
// middleware share one set of span names and attributes, and so that tracing
// costs nothing when it is off.
//
// A nil *Tracer is off: callers test for nil and take no other path, so no
// span, context or header is made or touched by it (the gateway, with its
// clients untrusted, removes their trace context with StripContext: W3C's
// fields and those of the other formats a backend may read, B3, Jaeger's,
// Datadog's and the like). When on, each span is a child of the incoming
// W3C traceparent, and the traceparent sent onwards is the attempt span's
// own. A server whose clients are the public does not let them choose the
// trace or whether it is sampled: with PublicEndpoint its server spans
// start new traces that link the incoming context, and its handler gets
// none of those fields.
//
// The package depends on the OpenTelemetry API only; building an SDK
// provider that exports over OTLP is package tracing/otlp's business, so a
// backend that brings its own provider (or otel's global one) needs nothing
// more than New.
package tracing
