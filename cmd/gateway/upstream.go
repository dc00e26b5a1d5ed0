package main

import (
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
	"github.com/sluicehq/sluice/upstream/h1"
)

// resilience is the state about backends that lives for the whole process,
// whatever reloads happen: in-flight counts, ejections, breakers and
// concurrency limits, keyed by node or service identity; and the connection
// pools, so that a reload reuses the connections it finds open.
type resilience struct {
	loads     *selector.Loads
	ejector   *selector.Ejector
	breakers  *upstream.Breakers
	limits    *upstream.Limits
	transport *h1.Transport
	// metrics counts attempts, ejections, breaker transitions and the
	// budget per hop (package metrics).
	metrics *metrics.Upstream
}

// newResilience builds the parts of the upstream client that outlive
// reloads.
func newResilience(cfg *config.Config, reg prometheus.Registerer, logger *slog.Logger) *resilience {
	// The transport lives across reloads, so its header bound is the
	// starting configuration's (limits.max_backend_header_bytes).
	tr := upstream.NewLeanTransport(upstream.TransportOptions{MaxResponseHeaderBytes: int64(cfg.Limits.MaxBackendHeaderBytes),
		ConnectTimeout: cfg.Upstream.ConnectTimeout, OnTLSFailure: tlsFailures(reg, logger)})
	r := &resilience{loads: selector.NewLoads(), transport: tr, metrics: metrics.NewUpstream(reg)}
	u := cfg.Upstream
	if !u.Ejection.Disabled {
		r.ejector = selector.NewEjector(selector.EjectSettings{
			ConsecutiveFaults: u.Ejection.ConsecutiveFaults, BaseTime: u.Ejection.BaseTime,
			MaxTime: u.Ejection.MaxTime, MaxEjectedPercent: u.Ejection.MaxEjectedPercent,
			OnEject: r.metrics.Ejected,
		})
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_upstream_ejected_nodes", Help: "Nodes kept out of selection after consecutive faults.",
		}, func() float64 { return float64(len(r.ejector.Ejections())) }))
	}
	if !u.Breaker.Disabled {
		state := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_upstream_breaker_state", Help: "Circuit breaker state per service: 0 closed, 1 half-open, 2 open.",
		}, []string{"service"})
		reg.MustRegister(state)
		r.breakers = upstream.NewBreakers(upstream.BreakerSettings{
			Window: u.Breaker.Window, MinCalls: u.Breaker.MinCalls, FailureRatio: u.Breaker.FailureRatio,
			OpenFor: u.Breaker.OpenFor,
			OnStateChange: func(service string, from, to upstream.CircuitState) {
				state.WithLabelValues(service).Set(float64(to)) // closed 0, half-open 1, open 2
				r.metrics.BreakerTransition(service, from, to)
			},
		})
	}
	if l := u.ConcurrencyLimit; !l.Disabled {
		r.limits = upstream.NewLimits(upstream.LimitSettings{Min: l.Min, Max: l.Max, Tolerance: l.Tolerance})
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_upstream_shed_total",
			Help: "Calls refused at once because every node of their service was at its concurrency limit, or their caller held its share of the nodes while others called too.",
		}, func() float64 { return float64(r.limits.Shed()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluice_upstream_budget_too_low_total",
			Help: "Calls refused at once because their budget was below every node's fastest answer.",
		}, func() float64 { return float64(r.limits.TooLow()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_upstream_limited_nodes", Help: "Nodes whose concurrency limit is below its maximum.",
		}, func() float64 { return float64(len(r.limits.States())) }))
	}
	return r
}

// client builds the gateway's upstream client from the configuration.
func (r *resilience) client(cfg *config.Config, reg registry.Registry, more ...upstream.Option) *upstream.Client {
	u := cfg.Upstream
	opts := []upstream.Option{
		upstream.WithMargin(u.Margin), upstream.WithRetryPolicy(retryPolicy(u)), upstream.WithLoads(r.loads),
		upstream.WithEjector(r.ejector), upstream.WithBreakers(r.breakers), upstream.WithLimits(r.limits),
		upstream.WithTransport(r.transport), upstream.WithObserver(gatewayObserver{r.metrics}),
	}
	for name, svc := range cfg.Services {
		opts = append(opts, upstream.WithServiceStrategy(name, svc.Build(r.loads)))
	}
	return upstream.New(reg, append(opts, more...)...)
}

// retryPolicy is the client's retry policy for u: upstream's defaults, with
// the fields u sets.
func retryPolicy(u config.Upstream) upstream.RetryPolicy {
	p := upstream.DefaultRetryPolicy()
	p.MaxRetries = max(u.MaxRetries, 0)
	p.PerTryTimeout = u.PerTryTimeout
	p.HedgeAfter = u.HedgeAfter
	if u.RetryBudget.Ratio != 0 {
		p.BudgetRatio = u.RetryBudget.Ratio
	}
	if u.RetryBudget.Floor != nil {
		p.BudgetFloor = *u.RetryBudget.Floor
	}
	if u.Backoff.Base > 0 {
		p.BackoffBase = u.Backoff.Base
	}
	if u.Backoff.Cap > 0 {
		p.BackoffCap = u.Backoff.Cap
	}
	return p
}

// caller is who a request is made for, as the router names it in the
// request's budget (router.Options.Caller), by which the upstream client
// tells callers apart and every hop below too: the client's address, read through
// the trusted proxies of the running configuration, an IPv6 one as its /64
// (what one host is commonly given, so one client cannot pass for many).
func (g *gateway) caller(r *http.Request) netip.Addr {
	a := g.proxies.Load().ClientIP(r)
	if a.Is6() {
		p, _ := a.Prefix(64) // an IPv6 address always has a /64
		return p.Addr()
	}
	return a
}
