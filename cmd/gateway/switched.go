package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/router"
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
