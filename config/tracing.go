package config

import (
	"errors"

	"github.com/sluicehq/sluice/tracing/otlp"
)

// Tracing turns on OpenTelemetry tracing of requests: a server span per
// request named by its route and a client span per upstream attempt,
// exported over OTLP. Off by default; off costs nothing.
type Tracing struct {
	// Enabled turns tracing on.
	Enabled bool `yaml:"enabled"`
	// Exporter is how spans leave the gateway: "otlp", the only one and
	// the default.
	Exporter string `yaml:"exporter"`
	// Endpoint is the OTLP receiver: host:port (no TLS) or an http:// or
	// https:// URL. Empty means 127.0.0.1:4318 with protocol http,
	// 127.0.0.1:4317 with grpc.
	Endpoint string `yaml:"endpoint"`
	// Protocol is "http" (OTLP/HTTP, the default) or "grpc".
	Protocol string `yaml:"protocol"`
	// SampleRatio is the share of new traces sampled, 0 to 1; with
	// client_context continue, a request that arrives with a traceparent
	// follows its sampled flag. Unset means DefaultSampleRatio.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the spans' service.name; empty means "sluice".
	ServiceName string `yaml:"service_name"`
	// ClientContext is what the gateway does with the trace context a
	// client sends (W3C's traceparent, tracestate and baggage, and the B3,
	// Jaeger, OpenTracing, Datadog, AWS X-Ray and Google Cloud fields):
	// "link" (the default) starts a new trace per request, sampled at
	// sample_ratio, that links the client's traceparent, and removes all of
	// the client's fields before forwarding, tracing on or off, so that
	// backends get the gateway's context only. "continue" makes each
	// request's span the child of the client's, and follows its sampled
	// flag; the other formats' fields, and with tracing off the W3C ones, go
	// to the backend untouched. Continue only for trusted clients (another
	// traced proxy): any other client could hide from the traces, flood
	// them, or put the gateway's spans in someone else's trace.
	ClientContext string `yaml:"client_context"`
}

// Values of Tracing.ClientContext.
const (
	ClientContextLink     = "link"
	ClientContextContinue = "continue"
)

// Defaults of the tracing section.
const (
	DefaultTracingExporter = "otlp"
	DefaultSampleRatio     = 1.0
	// DefaultClientContext distrusts the clients: the gateway is an edge.
	DefaultClientContext = ClientContextLink
)

func (c *Config) applyTracingDefaults() {
	t := &c.Tracing
	if t.Exporter == "" {
		t.Exporter = DefaultTracingExporter
	}
	if t.Protocol == "" {
		t.Protocol = otlp.DefaultProtocol
	}
	if t.Endpoint == "" {
		t.Endpoint = otlp.DefaultHTTPEndpoint
		if t.Protocol == otlp.ProtocolGRPC {
			t.Endpoint = otlp.DefaultGRPCEndpoint
		}
	}
	if t.SampleRatio == nil {
		r := DefaultSampleRatio
		t.SampleRatio = &r
	}
	if t.ServiceName == "" {
		t.ServiceName = otlp.DefaultServiceName
	}
	if t.ClientContext == "" {
		t.ClientContext = DefaultClientContext
	}
}

func (c *Config) validateTracing() error {
	if c.Tracing.Exporter != DefaultTracingExporter {
		return c.errorAt("tracing.exporter", "unknown exporter %q: use otlp", c.Tracing.Exporter)
	}
	switch c.Tracing.ClientContext {
	case ClientContextLink, ClientContextContinue:
	default:
		return c.errorAt("tracing.client_context", "unknown client_context %q: use link or continue", c.Tracing.ClientContext)
	}
	if err := c.Tracing.Settings().Validate(); err != nil {
		var fe *otlp.FieldError
		if errors.As(err, &fe) {
			return c.errorAt("tracing."+fe.Field, "%v", fe.Err)
		}
		return c.errorAt("tracing", "%v", err)
	}
	return nil
}

// TrustsClients reports whether the gateway continues the trace context
// its clients send (client_context continue), rather than linking it and
// keeping it from the backends (link, the default; an empty value, before
// defaults, is link too).
func (t Tracing) TrustsClients() bool { return t.ClientContext == ClientContextContinue }

// Settings returns the exporter's settings, after defaults.
func (t Tracing) Settings() otlp.Settings {
	s := otlp.Settings{Endpoint: t.Endpoint, Protocol: t.Protocol, ServiceName: t.ServiceName, SampleRatio: DefaultSampleRatio}
	if t.SampleRatio != nil {
		s.SampleRatio = *t.SampleRatio
	}
	return s
}
