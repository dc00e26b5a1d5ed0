package main

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
)

// gatewayObserver is the gateway's upstream.Observer: the metrics of
// package metrics, and each attempt noted on its request's Recorder, for
// the access log's node and attempts.
type gatewayObserver struct{ *metrics.Upstream }

// AttemptStart notes the attempt on the request's Recorder, then counts it.
func (o gatewayObserver) AttemptStart(ctx context.Context, service string, node *registry.Node, h budget.Header) {
	if rec := middleware.RecorderFromContext(ctx); rec != nil {
		rec.NoteAttempt(node.Address)
	}
	o.Upstream.AttemptStart(ctx, service, node, h)
}

// budgetSpent counts a request whose budget ran out at the edge (hop 0),
// before it could be forwarded: router.Options.OnBudgetSpent.
func (g *gateway) budgetSpent(r *http.Request, service string) {
	g.resilience.metrics.BudgetExhausted(r.Context(), service, 0)
}
