package config

import (
	"strings"
	"testing"
	"time"
)

func TestRouteRaisingTimeoutAboveDefaultMax(t *testing.T) {
	const src = `
registry:
  static:
    - {service: s, address: 127.0.0.1:1}
defaults:
  budget: {timeout: 2s, max: 10s}
routes:
  - {path: /slow, service: s, budget: {timeout: 15s}}
  - {path: /fast, service: s, budget: {timeout: 1s}}
`
	c, err := Parse("gateway.yaml", []byte(src))
	if err != nil {
		t.Fatalf("a route that raises its timeout above the default max must load: %v", err)
	}
	rs := c.RouterRoutes()
	if got := rs[0].Budget.Max; got != 0 && got < 15*time.Second {
		t.Errorf("slow route max = %v, want it to follow its 15s timeout", got)
	}
	if got := rs[1].Budget.Max; got != 10*time.Second {
		t.Errorf("fast route max = %v, want the default 10s", got)
	}
}

func TestServicesAndUpstreamValidation(t *testing.T) {
	base := "registry:\n  static:\n    - {service: s, address: 127.0.0.1:1}\n"
	tests := []struct{ name, src, want string }{
		{"unknown strategy", base + "services:\n  s: {strategy: fastest}\n", "gateway.yaml:5:17: services.s.strategy: unknown strategy"},
		{"canary over 100%", base + "services:\n  s:\n    canary: [{version: 2.0.0, weight: 0.7}, {version: 3.0.0, weight: 0.5}]\n", "gateway.yaml:6:13: services.s.canary"},
		{"retry ratio", base + "upstream: {retry_budget: {ratio: 2}}\n", "upstream.retry_budget.ratio"},
		{"ejection percent", base + "upstream: {ejection: {max_ejected_percent: 101}}\n", "upstream.ejection.max_ejected_percent"},
		{"limit min over max", base + "upstream: {concurrency_limit: {min: 10, max: 5}}\n", "upstream.concurrency_limit.min"},
		{"limit tolerance", base + "upstream: {concurrency_limit: {tolerance: 0.5}}\n", "upstream.concurrency_limit.tolerance"},
		{"limit negative", base + "upstream: {concurrency_limit: {max: -1}}\n", "upstream.concurrency_limit"},
	}
	for _, tt := range tests {
		_, err := Parse("gateway.yaml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	ok := base + "services:\n  s: {strategy: round_robin, prefer_datacenter: dc1, require: {tier: gold}, canary: [{version: 2.1.0, weight: 0.05}]}\n"
	c, err := Parse("gateway.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Services["s"].Build(nil); st == nil {
		t.Fatal("no strategy built")
	}
}
