package config

import (
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
