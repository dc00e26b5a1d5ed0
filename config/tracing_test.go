package config_test

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/tracing/otlp"
)

func TestTracingDefaults(t *testing.T) {
	c, err := config.Parse("gw.yaml", []byte(nodes))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Tracing
	if tr.Enabled || tr.Exporter != "otlp" || tr.Protocol != "http" || tr.Endpoint != "127.0.0.1:4318" ||
		tr.SampleRatio == nil || *tr.SampleRatio != 1 || tr.ServiceName != "sluice" {
		t.Errorf("tracing defaults %+v", tr)
	}
	c, err = config.Parse("gw.yaml", []byte(nodes+"tracing: {enabled: true, protocol: grpc, sample_ratio: 0, service_name: edge}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := otlp.Settings{Endpoint: "127.0.0.1:4317", Protocol: "grpc", SampleRatio: 0, ServiceName: "edge"}
	if got := c.Tracing.Settings(); !c.Tracing.Enabled || got != want {
		t.Errorf("settings %+v, want %+v (a written 0 samples nothing new)", got, want)
	}
}

func TestTracingErrors(t *testing.T) {
	for _, tt := range []struct {
		yaml      string
		line, col int
		path      string
	}{
		{"tracing:\n  enabled: true\n  protocol: udp\n", 3, 13, "tracing.protocol"},
		{"tracing:\n  exporter: zipkin\n", 2, 13, "tracing.exporter"},
		{"tracing:\n  sample_ratio: 1.5\n", 2, 17, "tracing.sample_ratio"},
		{"tracing:\n  sample_ratio: -0.1\n", 2, 17, "tracing.sample_ratio"},
		{"tracing:\n  endpoint: collector\n", 2, 13, "tracing.endpoint"},
		{"tracing:\n  endpoint: \"http://\"\n", 2, 13, "tracing.endpoint"},
		{"tracing:\n  sample_ratio: all\n", 2, 17, "tracing.sample_ratio"},
		{"tracing:\n  client_context: trust\n", 2, 19, "tracing.client_context"},
	} {
		_, err := config.Parse("gw.yaml", []byte(nodes+tt.yaml))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Line != tt.line+3 || ce.Column != tt.col || ce.Path != tt.path {
			t.Errorf("%q: %v, want gw.yaml:%d:%d at %s", tt.yaml, err, tt.line+3, tt.col, tt.path)
		}
	}
}

// A client's trace context is linked, not continued, unless the file says
// continue; either holds with tracing off too.
func TestTracingClientContext(t *testing.T) {
	for _, tt := range []struct {
		yaml, want string
		trusts     bool
	}{
		{"", config.ClientContextLink, false},
		{"tracing: {client_context: link}\n", config.ClientContextLink, false},
		{"tracing: {client_context: continue}\n", config.ClientContextContinue, true},
		{"tracing: {enabled: true, client_context: continue}\n", config.ClientContextContinue, true},
	} {
		c, err := config.Parse("gw.yaml", []byte(nodes+tt.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if got := c.Tracing.ClientContext; got != tt.want || c.Tracing.TrustsClients() != tt.trusts {
			t.Errorf("%q: client_context %q, trusts clients %v; want %q, %v", tt.yaml, got, c.Tracing.TrustsClients(), tt.want, tt.trusts)
		}
	}
	if (config.Tracing{}).TrustsClients() {
		t.Error("a Tracing before defaults trusts the clients: unset must mean link")
	}
}
