package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/budget"
)

// Attempt describes one upstream attempt, for its span.
type Attempt struct {
	// Service is the service called.
	Service string
	// Node is the address of the node the attempt goes to.
	Node string
	// Number counts the call's attempts from 0.
	Number int
	// Hedge marks the second attempt of a hedged call.
	Hedge bool
	// Sent is the Sluice-Budget the attempt carries: the budget left at
	// its start less the margin, the hop it goes to and the path's retries.
	Sent budget.Header
}

// AttemptSpan is the client span of one attempt. The zero value is a no-op.
type AttemptSpan struct{ span trace.Span }

// StartAttempt starts the client span of attempt a, a child of ctx's span
// (the gateway's route span, or a backend's server span), and returns the
// context the attempt's request must carry. Call Inject with it to send the
// span's traceparent, and End when the attempt's outcome is known.
func (t *Tracer) StartAttempt(ctx context.Context, a Attempt) (context.Context, AttemptSpan) {
	ctx, span := t.tracer.Start(ctx, a.Service, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, AttemptSpan{span: span}
	}
	span.SetAttributes(AttrService.String(a.Service), AttrNode.String(a.Node), AttrAttempt.Int(a.Number),
		AttrHop.Int(a.Sent.Hop), AttrRetries.Int(a.Sent.Retries), AttrBudgetRemaining.Float64(ms(a.Sent.Remaining)))
	if a.Hedge {
		span.SetAttributes(AttrHedge.Bool(true))
	}
	if route, ok := ctx.Value(routeKey{}).(string); ok {
		span.SetAttributes(AttrRoute.String(route))
	}
	if info, ok := budget.FromContext(ctx); ok {
		span.SetAttributes(AttrBudgetGranted.Float64(ms(info.Received)))
	}
	return ctx, AttemptSpan{span: span}
}

// SetRequestID records the request id of the call the attempt belongs to.
func (s AttemptSpan) SetRequestID(h http.Header) {
	if s.span == nil || !s.span.IsRecording() {
		return
	}
	if id := h.Get(RequestIDHeader); id != "" {
		s.span.SetAttributes(AttrRequestID.String(id))
	}
}

// End ends the span with the attempt's outcome (upstream.Outcome's name),
// its answer's status, if any, and its error, if any. Failed and not-sent
// attempts mark the span an error.
func (s AttemptSpan) End(outcome string, resp *http.Response, err error) {
	if s.span == nil {
		return
	}
	if s.span.IsRecording() {
		s.span.SetAttributes(AttrOutcome.String(outcome))
		if resp != nil {
			s.span.SetAttributes(attrStatus.Int(resp.StatusCode))
		}
		switch {
		case outcome == "failed" || outcome == "not-sent":
			desc := outcome
			if err != nil {
				desc = err.Error()
			} else if resp != nil {
				desc = resp.Status
			}
			s.span.SetStatus(codes.Error, desc)
		case err != nil:
			s.span.RecordError(err)
		}
	}
	s.span.End()
}
