package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

func TestLimits(t *testing.T) {
	c, err := config.Parse("gw.yaml", []byte(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != (config.Limits{}) {
		t.Errorf("limits = %+v, want zero (the router's defaults)", c.Limits)
	}
	c, err = config.Parse("gw.yaml", []byte(nodes+"limits: {body_idle_timeout: 2s, write_idle_timeout: 1m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.BodyIdleTimeout != 2*time.Second || c.Limits.WriteIdleTimeout != time.Minute {
		t.Errorf("limits = %+v", c.Limits)
	}
	c, err = config.Parse("gw.yaml", []byte(nodes+"limits: {tunnel_idle_timeout: 90s, tunnel_max_lifetime: 1h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.TunnelIdleTimeout != 90*time.Second || c.Limits.TunnelMaxLifetime != time.Hour {
		t.Errorf("limits = %+v", c.Limits)
	}
	_, err = config.Parse("gw.yaml", []byte(nodes+"limits:\n  write_idle_timeout: -1s\n"))
	if err == nil || !strings.Contains(err.Error(), "limits.write_idle_timeout") {
		t.Errorf("a negative write_idle_timeout: %v, want an error naming it", err)
	}
}
