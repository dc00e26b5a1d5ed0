package upstream

import (
	"context"
	"errors"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
)

// Observer is told what a Client's calls do, attempt by attempt, for
// metrics and access logs: package metrics turns it into Prometheus
// series, and the gateway also notes each attempt in its access log. Its
// methods are called in the goroutine of the call (hedges included), must
// not block and must be safe for concurrent use across calls. The client
// depends on no metrics library: this interface is all it knows.
type Observer interface {
	// AttemptStart is called just before an attempt is sent to node, with
	// the Sluice-Budget it carries: h.Remaining is the budget left for it
	// (after the margin), h.Hop the hop number the receiver will have.
	AttemptStart(ctx context.Context, service string, node *registry.Node, h budget.Header)
	// AttemptEnd is called when an attempt's answer header arrived or it
	// failed, d after it was sent, with its classification. A hedge that
	// lost the race is cancelled, and reported as Abandoned.
	AttemptEnd(ctx context.Context, service string, node *registry.Node, kind AttemptKind, o Outcome, d time.Duration)
	// RetryRefused is called when the service's retry budget refused a
	// retry or a hedge that the policy would otherwise have made.
	RetryRefused(service string)
	// BudgetExhausted is called when a call gives up because its budget
	// ran out at this hop (hop is this process's position: 0 at the
	// gateway, budget.Info.Hop at a backend): too little was left to send
	// an attempt, the budget ended during one, or during a back-off. A
	// caller that left is not reported.
	BudgetExhausted(ctx context.Context, service string, hop int)
}

// AttemptKind tells a call's first attempt from its retries and hedges.
type AttemptKind uint8

// The kinds of attempt.
const (
	FirstAttempt AttemptKind = iota
	RetryAttempt
	HedgeAttempt
)

var attemptKindNames = [...]string{"first", "retry", "hedge"}

// String implements fmt.Stringer.
func (k AttemptKind) String() string {
	if int(k) < len(attemptKindNames) {
		return attemptKindNames[k]
	}
	return "unknown"
}

// WithObserver sets the observer told of every attempt; nil, the default,
// observes nothing.
func WithObserver(o Observer) Option { return func(c *Client) { c.obs = o } }

func kindOf(attempt int) AttemptKind {
	if attempt == 0 {
		return FirstAttempt
	}
	return RetryAttempt
}

// exhausted tells the observer that the call gave up as its budget ran out,
// unless the caller left.
func (c *Client) exhausted(ctx context.Context, service string) {
	if c.obs == nil || errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	info, _ := budget.FromContext(ctx)
	c.obs.BudgetExhausted(ctx, service, info.Hop)
}
