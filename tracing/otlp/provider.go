package otlp

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Protocols of Settings.Protocol.
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"
)

// Defaults of Settings.
const (
	DefaultProtocol     = ProtocolHTTP
	DefaultHTTPEndpoint = "127.0.0.1:4318"
	DefaultGRPCEndpoint = "127.0.0.1:4317"
	DefaultServiceName  = "sluice"
)

// Settings say where and how spans are exported. Zero values mean the
// defaults, except SampleRatio: zero samples no new trace.
type Settings struct {
	// Endpoint is the receiver: host:port, sent to without TLS, or a URL,
	// http:// (no TLS) or https:// (TLS); an HTTP URL's path, when it has
	// one, replaces /v1/traces. Empty means DefaultHTTPEndpoint or DefaultGRPCEndpoint.
	Endpoint string
	// Protocol is ProtocolHTTP (OTLP/HTTP protobuf, the default) or
	// ProtocolGRPC.
	Protocol string
	// SampleRatio is the share of traces started here that are sampled,
	// 0 to 1. A span whose parent context says sampled (or not) follows
	// it instead; a server span made with tracing.PublicEndpoint, as the
	// gateway's are by default, has no parent and is sampled at this ratio.
	SampleRatio float64
	// ServiceName is the service.name of the spans' resource; empty means
	// DefaultServiceName.
	ServiceName string
}

// Validate reports what is wrong with s, naming the field as YAML does.
func (s Settings) Validate() error {
	switch s.Protocol {
	case "", ProtocolHTTP, ProtocolGRPC:
	default:
		return &FieldError{Field: "protocol", Err: fmt.Errorf("unknown protocol %q: use http or grpc", s.Protocol)}
	}
	if s.SampleRatio < 0 || s.SampleRatio > 1 || s.SampleRatio != s.SampleRatio {
		return &FieldError{Field: "sample_ratio", Err: fmt.Errorf("must be between 0 and 1")}
	}
	if s.Endpoint != "" {
		if _, _, err := endpoint(s.Endpoint); err != nil {
			return &FieldError{Field: "endpoint", Err: err}
		}
	}
	return nil
}

// FieldError names the Settings field that is wrong, by its YAML key.
type FieldError struct {
	// Field is the YAML key: endpoint, protocol or sample_ratio.
	Field string
	// Err says what is wrong with it.
	Err error
}

// Error returns "field: what is wrong".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// endpoint splits e into a URL (when it has a scheme) or a host:port.
func endpoint(e string) (u *url.URL, hostport string, err error) {
	if pu, perr := url.Parse(e); perr == nil && (pu.Scheme == "http" || pu.Scheme == "https") {
		if pu.Host == "" {
			return nil, "", fmt.Errorf("endpoint %q has no host", e)
		}
		return pu, "", nil
	}
	if _, _, err := net.SplitHostPort(e); err != nil {
		return nil, "", fmt.Errorf("endpoint %q must be host:port or an http:// or https:// URL", e)
	}
	return nil, e, nil
}

// NewProvider returns a tracer provider that batches spans and exports them
// as s says, sampling new traces at s.SampleRatio and following the parent's
// decision otherwise. Nothing is dialled until the first export. The caller
// must Shutdown the provider to flush the last spans.
//
// The batcher's queue holds at most 2,048 spans (OpenTelemetry's default,
// OTEL_BSP_MAX_QUEUE_SIZE): while the receiver is slow or away, the spans
// ended beyond it are dropped, never waited for, so that a request never
// waits on the receiver and the memory spans take stays bounded.
// OpenTelemetry counts no drop: WithEndedObserver and WithExportObserver
// together tell them.
func NewProvider(ctx context.Context, s Settings, opts ...Option) (*sdktrace.TracerProvider, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	exp, err := exporter(ctx, s)
	if err != nil {
		return nil, err
	}
	if o.observe != nil {
		exp = &observedExporter{SpanExporter: exp, observe: o.observe}
	}
	name := s.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	res := resource.NewSchemaless(attribute.String("service.name", name))
	var proc sdktrace.SpanProcessor = sdktrace.NewBatchSpanProcessor(exp)
	if o.ended != nil {
		proc = &endCounter{SpanProcessor: proc, ended: o.ended}
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(proc),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.SampleRatio))),
	), nil
}

func exporter(ctx context.Context, s Settings) (sdktrace.SpanExporter, error) {
	if s.Protocol == ProtocolGRPC {
		e := s.Endpoint
		if e == "" {
			e = DefaultGRPCEndpoint
		}
		u, hp, _ := endpoint(e)
		if u != nil {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u.String()))
		}
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(hp), otlptracegrpc.WithInsecure())
	}
	e := s.Endpoint
	if e == "" {
		e = DefaultHTTPEndpoint
	}
	u, hp, _ := endpoint(e)
	if u != nil && u.Path != "" && u.Path != "/" {
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	}
	opts := []otlptracehttp.Option{}
	if u != nil { // no path: the default /v1/traces
		hp = u.Host
		if u.Scheme == "http" {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
	} else {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	return otlptracehttp.New(ctx, append(opts, otlptracehttp.WithEndpoint(hp))...)
}
