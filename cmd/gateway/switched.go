package main

import (
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/server"
)

// registerSwitched exports the places the switched connections
// (WebSockets) take of their bound, read at each scrape: the tunnels open
// and the handshakes under way. It falls back to zero once every client
// has gone, however their tunnels ended; a count that stayed above would
// be places lost, a bound shrunk for good. Near the bound (the `switched`
// of the log line "client connections bounded"), handshakes are refused
// 503.
func registerSwitched(reg prometheus.Registerer, ts *router.Tunnels) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_switched_connections",
		Help: "Connections switched to another protocol (WebSockets) now, with the handshakes under way.",
	}, func() float64 { return float64(ts.Places()) }))
}

// switchedKey returns the client address r's handshake is charged to in
// the share of switched connections each address may hold
// (router.Tunnels.SetMaxPerAddress): the client's address as the rate
// limits read it, through the trusted proxies of the configuration serving
// (X-Forwarded-For read from the right), keyed as the connection bound
// keys a peer (server.AddrKey: IPv6 by its /64). The connection bound
// cannot read a request, and exempts the trusted proxies, whose
// connections carry every client's; keyed by the peer alone, every
// handshake through a load balancer was exempt, and one client behind it
// could take every switched place. A request whose client is a trusted
// proxy (one that named no other) counts under no address, as its
// connections do; so does one whose peer cannot be read.
func (g *gateway) switchedKey(r *http.Request) (netip.Prefix, bool) {
	proxies := g.proxies.Load()
	a := proxies.ClientIP(r)
	if !a.IsValid() || proxies.Trusts(a) {
		return netip.Prefix{}, false
	}
	return server.AddrKey(a), true
}
