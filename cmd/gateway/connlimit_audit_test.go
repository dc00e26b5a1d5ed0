package main

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/router"
)

// TestClientConnectionBoundNeedsARestart: limits.max_client_connections
// bounds the listeners, which live for the whole process, so a reload
// that changes it says a restart is required.
func TestClientConnectionBoundNeedsARestart(t *testing.T) {
	backend := echoBackend(t)
	base := configText(backend, "  - {path: /v1, service: svc}\n")
	cfg, _ := loadFile(t, base)
	next, _ := loadFile(t, base+"limits: {max_client_connections: 5000, body_idle_timeout: 3s}\n")
	if got := restartOnly(cfg, next); !slices.Equal(got, []string{"limits.max_client_connections"}) {
		t.Errorf("restart required for %q, want the client connection bound only", got)
	}
}

// TestConnLimitsDefault: with no bound configured, the route listeners
// may hold half the descriptor limit (at most maxDefaultRouteConns), each
// client address an eighth of that, the admin listener a 16th of the
// descriptor limit (at most 256); a configured bound is taken as it is.
func TestConnLimitsDefault(t *testing.T) {
	nofile := descriptorLimit()
	if nofile <= 0 {
		nofile = unknownNofile
	}
	g := &gateway{logger: slog.New(slog.DiscardHandler), tunnels: router.NewTunnels()}
	routes, admin := g.connLimits(0, 0)
	want := min(nofile/2, maxDefaultRouteConns)
	if routes.Max() != want || routes.MaxPerAddress() != want/8 || admin.Max() != min(256, max(1, nofile/16)) {
		t.Errorf("descriptor limit %d: bounds %d, %d per address (routes) and %d (admin), want %d, %d and %d",
			nofile, routes.Max(), routes.MaxPerAddress(), admin.Max(), want, want/8, min(256, max(1, nofile/16)))
	}
	if routes, _ := g.connLimits(5000, 0); routes.Max() != 5000 || routes.MaxPerAddress() != 625 {
		t.Errorf("configured 5000: bound %d, %d per address", routes.Max(), routes.MaxPerAddress())
	}
	if routes, _ := g.connLimits(5000, 3000); routes.MaxPerAddress() != 3000 {
		t.Errorf("configured 3000 per address: %d", routes.MaxPerAddress())
	}
	if routes, _ := g.connLimits(5000, -1); routes.MaxPerAddress() != 0 {
		t.Errorf("configured -1 per address: %d, want no bound", routes.MaxPerAddress())
	}
}

// TestEachAddressMaySwitchHalfItsConnections: the switched connections are
// bounded to half the route listeners' connections, and those of one
// client address to half its connections (an eighth of the switched ones
// by default); an address bounded by nothing switches within the whole
// only, and an address of one connection may still switch it.
func TestEachAddressMaySwitchHalfItsConnections(t *testing.T) {
	g := &gateway{logger: slog.New(slog.DiscardHandler), tunnels: router.NewTunnels()}
	for _, c := range []struct {
		configured, perAddr int
		max, maxPerAddr     int
	}{
		{5000, 0, 2500, 312},
		{64, 0, 32, 4},
		{5000, 3000, 2500, 1500},
		{5000, 1, 2500, 1},
		{5000, -1, 2500, 0},
	} {
		g.connLimits(c.configured, c.perAddr)
		if g.tunnels.Max() != c.max || g.tunnels.MaxPerAddress() != c.maxPerAddr {
			t.Errorf("max_client_connections %d, %d per address: %d switched, %d per address; want %d and %d",
				c.configured, c.perAddr, g.tunnels.Max(), g.tunnels.MaxPerAddress(), c.max, c.maxPerAddr)
		}
	}
}
