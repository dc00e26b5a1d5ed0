package config_test

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// A route's upgrades reach the router as they are written; a route without
// the field leaves the router's default (websocket alone).
func TestRouteUpgrades(t *testing.T) {
	const text = nodes + `
routes:
  - {path: /plain, service: svc}
  - {path: /ws, service: svc, upgrades: [websocket, h2c]}
`
	c, err := config.Parse("gw.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.RouterRoutes()
	if rs[0].Upgrades != nil {
		t.Errorf("/plain: upgrades %q, want none (the router's default)", rs[0].Upgrades)
	}
	if !slices.Equal(rs[1].Upgrades, []string{"websocket", "h2c"}) {
		t.Errorf("/ws: upgrades %q", rs[1].Upgrades)
	}
}
