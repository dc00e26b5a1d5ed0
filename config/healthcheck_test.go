package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

func TestAHealthCheckIsRefusedWithConsulAndWithoutAPath(t *testing.T) {
	static := "registry:\n  static:\n    - {service: s, address: 127.0.0.1:1}\n"
	tests := []struct{ name, src, want string }{
		{"consul", "registry: {kind: consul}\nservices:\n  s:\n    health_check: {path: /healthz}\n",
			"gateway.yaml:4:19: services.s.health_check: applies to registry.kind static only"},
		{"no path", static + "services:\n  s:\n    health_check: {interval: 2s}\n", "gateway.yaml:6:19: services.s.health_check.path: required"},
		{"relative path", static + "services:\n  s:\n    health_check: {path: healthz}\n", "services.s.health_check.path: required"},
		{"negative threshold", static + "services:\n  s:\n    health_check: {path: /h, unhealthy_threshold: -1}\n", "services.s.health_check: unhealthy_threshold"},
	}
	for _, tt := range tests {
		_, err := Parse("gateway.yaml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	c, err := Parse("gateway.yaml", []byte(static+"services:\n  s:\n    health_check: {path: /healthz, interval: 3s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := registry.HealthCheck{Path: "/healthz", Interval: 3 * time.Second, Timeout: registry.DefaultHealthTimeout,
		UnhealthyThreshold: registry.DefaultHealthUnhealthyThreshold, HealthyThreshold: registry.DefaultHealthHealthyThreshold}
	if got := c.HealthChecks(); len(got) != 1 || got["s"] != want {
		t.Fatalf("checks %+v, want s: %+v", got, want)
	}
}

// TestAHealthCheckPathNoProbeCanAskForIsRefused: a path that does not
// parse as a probe's URL failed every probe of every node, which then all
// served (fail open): the check silently did nothing. It is refused at its
// field.
func TestAHealthCheckPathNoProbeCanAskForIsRefused(t *testing.T) {
	src := "registry:\n  static:\n    - {service: s, address: 127.0.0.1:1}\nservices:\n  s:\n    health_check: {path: \"/health%\"}\n"
	_, err := Parse("gateway.yaml", []byte(src))
	want := "gateway.yaml:6:26: services.s.health_check.path: no probe can ask for it: invalid URL escape"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
}
