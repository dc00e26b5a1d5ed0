// Package otlp builds the OpenTelemetry SDK tracer provider that exports
// Sluice's spans over OTLP (HTTP or gRPC) to a collector, Jaeger or any
// OTLP receiver. It is apart from package tracing because the SDK and the
// exporters (gRPC among them) are heavy: the gateway and the examples import
// it, a backend that brings its own provider does not need to.
package otlp
