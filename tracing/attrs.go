package tracing

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Attribute keys of Sluice's spans. Budgets are in milliseconds, as floats.
const (
	// AttrRoute is the gateway route's name (router.Route.DisplayName).
	AttrRoute = attribute.Key("sluice.route")
	// AttrService is the service called (client spans) or routed to.
	AttrService = attribute.Key("sluice.service")
	// AttrNode is the address of the node an attempt went to.
	AttrNode = attribute.Key("sluice.node")
	// AttrAttempt numbers a call's attempts from 0.
	AttrAttempt = attribute.Key("sluice.attempt")
	// AttrHedge marks the second attempt of a hedged call.
	AttrHedge = attribute.Key("sluice.hedge")
	// AttrHop is the hop number of the receiving side, as Sluice-Budget
	// carries it: 0 at the gateway, 1 at the first backend and on the
	// gateway's attempts to it, and so on.
	AttrHop = attribute.Key("sluice.hop")
	// AttrRetries is the retries spent on the path, as Sluice-Budget
	// carries them.
	AttrRetries = attribute.Key("sluice.retries")
	// AttrBudgetGranted is the budget the hop was given: originated at
	// the gateway, received in Sluice-Budget at a backend. On a client
	// span, the budget of the hop that makes the call.
	AttrBudgetGranted = attribute.Key("sluice.budget.granted_ms")
	// AttrBudgetRemaining is, on a client span, the budget the attempt
	// carried in Sluice-Budget: what was left when it started, less the
	// per-hop margin.
	AttrBudgetRemaining = attribute.Key("sluice.budget.remaining_ms")
	// AttrOutcome is how an attempt ended, as upstream classifies it:
	// success, rejected, not-sent, failed, abandoned, client-fault or local.
	AttrOutcome = attribute.Key("sluice.outcome")
	// AttrRequestID is the request's X-Request-Id.
	AttrRequestID = attribute.Key("sluice.request_id")

	attrMethod = attribute.Key("http.request.method")
	attrStatus = attribute.Key("http.response.status_code")
	attrPath   = attribute.Key("url.path")
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
