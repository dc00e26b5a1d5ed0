package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/router"
)

// registerHeldBodies exports the budget of the request bodies held for a
// retry (limits.max_held_body_bytes), read at each scrape: how much of it
// the bodies take now, its size, and how many bodies found no room. A
// budget often full is a flood of large uploads, or a budget too small for
// the gateway's load: its bodies then lose the chance of a retry (HTTP
// routes) or are refused 503 (RPC routes).
func registerHeldBodies(reg prometheus.Registerer, b *router.BodyBudget) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_held_body_bytes",
			Help: "Bytes of request bodies held for a retry now, beyond each body's first 4 KiB.",
		}, func() float64 { return float64(b.Held()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_held_body_budget_bytes",
			Help: "The budget those bodies share (limits.max_held_body_bytes).",
		}, func() float64 { return float64(b.Max()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_held_body_refused_total",
			Help: "Request bodies that found no room in the budget: streamed on an HTTP route, answered 503 on an RPC route.",
		}, func() float64 { return float64(b.Refused()) }),
	)
}
