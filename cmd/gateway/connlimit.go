package main

import (
	"log/slog"
	"net/netip"

	"github.com/sluicehq/sluice/server"
)

// The bounds of client connections (server.ConnLimit) derived from the
// process's descriptor limit when the configuration sets none.
const (
	// routeConnShare is the share of the descriptor limit the route
	// listeners' connections may take together: each request they carry
	// may need a connection to a node, so the other half is theirs, with
	// the admin listener's, Consul's, Redis's and the files'.
	routeConnShare = 2 // a half
	// maxDefaultRouteConns caps the default: an idle client connection
	// holds about 21 KiB of the gateway's memory (a goroutine, its reader
	// and writer), so half of a descriptor limit of a million would let
	// clients hold 11 GiB; 50,000 is about 1 GiB (Envoy's edge guidance
	// sets the same bound). A gateway meant to hold more (long-lived
	// WebSockets) sets limits.max_client_connections.
	maxDefaultRouteConns = 50_000
	// adminConnShare and maxAdminConns bound the admin listener's
	// connections on their own, so that a flood of the route listeners
	// never takes the admin listener's place, nor the other way round.
	adminConnShare = 16
	maxAdminConns  = 256
	// tunnelShare is the share of the route listeners' bound the switched
	// connections (WebSockets) may take together: each holds its node's
	// connection beside its client's, which that bound does not count, so
	// a half keeps them to a quarter of the descriptors more
	// (router.Tunnels.SetMax).
	tunnelShare = 2 // a half
	// unknownNofile stands for the descriptor limit where it cannot be
	// read.
	unknownNofile = 1024
	// addrConnShare is the share of the route listeners' bound one client
	// address may hold by default: an eighth, so that one address cannot
	// shut the others out, while the thousands of users a carrier's NAT
	// puts behind one address still fit. Of its connections, an address
	// may have switched the same share as all of them together
	// (tunnelShare, a half: an eighth of the switched connections by
	// default), so that a few addresses cannot take every switched place
	// either (router.Tunnels.SetMaxPerAddress).
	addrConnShare = 8
)

// connLimits returns the bounds of the route listeners' client connections
// (configured, the limits.max_client_connections the gateway started with,
// or zero for the default; perAddr its max_client_connections_per_address)
// and of the admin listener's. The trusted proxies of the configuration
// serving are bound by the whole only. It bounds the switched connections
// (g.tunnels) to a half of the route listeners' connections, and those of
// each address to a half of its connections (switchedKey).
func (g *gateway) connLimits(configured, perAddr int) (routes, admin *server.ConnLimit) {
	nofile := descriptorLimit()
	if nofile <= 0 {
		nofile = unknownNofile
	}
	n := configured
	if n <= 0 {
		n = max(1, min(nofile/routeConnShare, maxDefaultRouteConns))
	}
	if perAddr == 0 {
		perAddr = max(1, n/addrConnShare)
	}
	trusted := func(a netip.Addr) bool { return g.proxies.Load().Trusts(a) }
	g.tunnels.SetMax(max(1, n/tunnelShare))
	switchedPerAddr := 0
	if perAddr > 0 {
		switchedPerAddr = max(1, perAddr/tunnelShare)
	}
	g.tunnels.SetMaxPerAddress(switchedPerAddr, g.switchedKey)
	adminMax := min(maxAdminConns, max(1, nofile/adminConnShare))
	logf := slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn).Printf
	g.logger.Info("client connections bounded", slog.Int("route_listeners", n), slog.Int("switched", max(1, n/tunnelShare)),
		slog.Int("per_address", max(perAddr, 0)), slog.Int("switched_per_address", switchedPerAddr),
		slog.Int("admin", adminMax), slog.Int("descriptor_limit", nofile))
	return server.NewConnLimit(n, logf).PerAddress(perAddr, trusted), server.NewConnLimit(adminMax, logf)
}
