package metrics

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/promhist"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// Upstream records what an upstream.Client's calls do, and the budget per
// hop. It implements upstream.Observer; its Inbound method is a
// budget.ServerPolicy.Observe, its BreakerTransition an
// upstream.BreakerSettings.OnStateChange and its Ejected a
// selector.EjectSettings.OnEject. Safe for concurrent use.
type Upstream struct {
	attempts    *prometheus.CounterVec
	latency     *promhist.Vec
	refusals    *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	transitions *prometheus.CounterVec
	remaining   *promhist.Vec
	received    *promhist.Vec
	exhausted   *prometheus.CounterVec
	// series holds each service's per-attempt children (series.go).
	series seriesCache
}

var _ upstream.Observer = (*Upstream)(nil)

// NewUpstream creates the metrics and registers them with reg.
func NewUpstream(reg prometheus.Registerer) *Upstream {
	u := &Upstream{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_upstream_attempts_total",
			Help: "Attempts sent to a service's nodes, by service, outcome (as upstream.Outcome classifies it) and kind (first, retry, hedge).",
		}, []string{"service", "outcome", "kind"}),
		latency: promhist.NewVec("sluice_upstream_attempt_duration_seconds",
			"Time from sending an attempt to its answer's header or its failure, by service.", DurationBuckets,
			[]string{"service"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_upstream_retry_budget_refusals_total",
			Help: "Retries and hedges that the service's retry budget refused, by service.",
		}, []string{"service"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_upstream_ejections_total",
			Help: "Nodes ejected after consecutive faults, by service.",
		}, []string{"service"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_upstream_breaker_transitions_total",
			Help: "Circuit breaker state changes, by service, from and to (closed, half-open, open).",
		}, []string{"service", "from", "to"}),
		remaining: promhist.NewVec("sluice_budget_remaining_seconds",
			"Budget left, as sent in Sluice-Budget, when each upstream attempt starts, by service and hop (the receiver's hop number, from the wire header).",
			BudgetBuckets, []string{"service", "hop"}),
		received: promhist.NewVec("sluice_budget_received_seconds",
			"Budget a backend received with a request (budget.Inbound, after its default and clamp), by hop.",
			BudgetBuckets, []string{"hop"}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_budget_exhausted_total",
			Help: "Requests that ran out of budget, by the hop where they did (0 is the gateway): below the route's minimum before the gateway forwarded them, too little left to send an attempt, the budget ending before a node was found, during an attempt or a back-off, or a backend refusing one below its minimum.",
		}, []string{"hop"}),
	}
	reg.MustRegister(u.attempts, u.latency, u.refusals, u.ejections, u.transitions, u.remaining, u.received, u.exhausted)
	return u
}

// AttemptStart implements upstream.Observer: the budget an attempt carries.
func (u *Upstream) AttemptStart(_ context.Context, service string, _ *registry.Node, h budget.Header) {
	child(&u.series.of(service).remaining[hopIndex(h.Hop)], func() prometheus.Observer {
		return u.remaining.WithLabelValues(service, HopLabel(h.Hop))
	}).Observe(h.Remaining.Seconds())
}

// AttemptEnd implements upstream.Observer: the attempt's outcome and
// latency.
func (u *Upstream) AttemptEnd(_ context.Context, service string, _ *registry.Node, kind upstream.AttemptKind,
	o upstream.Outcome, d time.Duration) {
	s := u.series.of(service) // once for both series: the lookup hashes the name
	u.attemptCounter(s, service, o, kind).Inc()
	child(&s.latency, func() prometheus.Observer {
		return u.latency.WithLabelValues(service)
	}).Observe(d.Seconds())
}

// RetryRefused implements upstream.Observer.
func (u *Upstream) RetryRefused(service string) { u.refusals.WithLabelValues(service).Inc() }

// BudgetExhausted implements upstream.Observer.
func (u *Upstream) BudgetExhausted(_ context.Context, _ string, hop int) {
	u.exhausted.WithLabelValues(HopLabel(hop)).Inc()
}

// Inbound records the budget a backend received with a request, and a
// request refused as below its minimum as exhausted at its hop. Set it as
// budget.ServerPolicy.Observe.
func (u *Upstream) Inbound(_ *http.Request, h budget.Header, refused bool) {
	hop := HopLabel(h.Hop)
	u.received.WithLabelValues(hop).Observe(h.Remaining.Seconds())
	if refused {
		u.exhausted.WithLabelValues(hop).Inc()
	}
}

// BreakerTransition counts a breaker's change of state. Set it as
// upstream.BreakerSettings.OnStateChange (or call it from one).
func (u *Upstream) BreakerTransition(service string, from, to upstream.CircuitState) {
	u.transitions.WithLabelValues(service, from.String(), to.String()).Inc()
}

// Ejected counts an ejection. Set it as selector.EjectSettings.OnEject.
func (u *Upstream) Ejected(n *registry.Node) { u.ejections.WithLabelValues(n.Service).Inc() }

// MaxHopLabel is the last hop that has a label of its own: deeper hops share
// the label "8+".
const MaxHopLabel = 7

var hopLabels = [...]string{"0", "1", "2", "3", "4", "5", "6", "7"}

// HopLabel returns the label of hop: "0" to "7", then "8+".
func HopLabel(hop int) string {
	if hop >= 0 && hop <= MaxHopLabel {
		return hopLabels[hop]
	}
	if hop < 0 {
		return hopLabels[0]
	}
	return "8+"
}

var outcomeLabels = func() (l [8]string) {
	for i := range l {
		l[i] = strings.ReplaceAll(upstream.Outcome(i).String(), "-", "_")
	}
	return l
}()

// OutcomeLabel returns the outcome label of o: its name with underscores
// (success, rejected, not_sent, failed, abandoned, client_fault, local).
func OutcomeLabel(o upstream.Outcome) string {
	if int(o) < len(outcomeLabels) {
		return outcomeLabels[o]
	}
	return "unknown"
}
