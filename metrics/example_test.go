package metrics_test

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// A backend exports the same budget and attempt metrics as the gateway:
// the budget it receives (budget.Inbound), and what its own calls to the
// next hop do (upstream.Client), under the same names, so that one
// dashboard shows the budget hop by hop.
func ExampleNewUpstream() {
	reg := prometheus.NewRegistry()
	m := metrics.NewUpstream(reg)

	disc, _ := registry.NewStatic(&registry.Node{Service: "pricing", Address: "127.0.0.1:9104"})
	client := upstream.New(disc,
		upstream.WithObserver(m),
		upstream.WithBreakers(upstream.NewBreakers(upstream.BreakerSettings{OnStateChange: m.BreakerTransition})),
		upstream.WithEjector(selector.NewEjector(selector.EjectSettings{OnEject: m.Ejected})),
	)
	_ = client // used by the handlers below to call pricing

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	handler := budget.Inbound(budget.ServerPolicy{Observe: m.Inbound})(mux)
	_ = handler // http.ListenAndServe(":9102", handler)
}
