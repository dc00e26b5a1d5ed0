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
	// SampleRatio is the share of new traces sampled, 0 to 1; a request
	// that arrives with a traceparent follows its sampled flag. Unset
	// means DefaultSampleRatio.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the spans' service.name; empty means "sluice".
	ServiceName string `yaml:"service_name"`
}

// Defaults of the tracing section.
const (
	DefaultTracingExporter = "otlp"
	DefaultSampleRatio     = 1.0
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
}

func (c *Config) validateTracing() error {
	if c.Tracing.Exporter != DefaultTracingExporter {
		return c.errorAt("tracing.exporter", "unknown exporter %q: use otlp", c.Tracing.Exporter)
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

// Settings returns the exporter's settings, after defaults.
func (t Tracing) Settings() otlp.Settings {
	s := otlp.Settings{Endpoint: t.Endpoint, Protocol: t.Protocol, ServiceName: t.ServiceName, SampleRatio: DefaultSampleRatio}
	if t.SampleRatio != nil {
		s.SampleRatio = *t.SampleRatio
	}
	return s
}
