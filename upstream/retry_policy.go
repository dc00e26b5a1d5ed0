package upstream

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// RetryPolicy says when a failed attempt is tried again, on another node.
// The zero value retries nothing; DefaultRetryPolicy gives the defaults.
//
// A retry needs all of: a failure that allows it (NotSent for any method;
// Failed only for idempotent requests, and for answers only 502, 503 and
// 504); no "Sluice-Retry: no" from the node; a replayable body; the retry
// count; the retry budget; enough budget left after the back-off for an
// attempt worth making; and no retries already spent upstream on this path,
// unless AfterUpstreamRetries (so that only one layer retries).
type RetryPolicy struct {
	// MaxRetries bounds the retries of one call.
	MaxRetries int
	// BudgetRatio and BudgetFloor form each service's retry budget: retries
	// at most BudgetRatio of requests plus BudgetFloor per second, over 10 s.
	// A negative BudgetRatio disables the retry budget.
	BudgetRatio, BudgetFloor float64
	// BackoffBase and BackoffCap shape the full-jitter exponential back-off
	// between attempts; the wait is charged to the budget.
	BackoffBase, BackoffCap time.Duration
	// PerTryTimeout, when positive, cuts each attempt's deadline to at most
	// that long, never beyond the call's. A node that takes longer has
	// failed (its fault, retried when idempotent). Zero, the default,
	// derives one from the budget left and the observed latency of the
	// node the attempt goes to (the service's until the node has given 20
	// answers, and without Limits, which keep the nodes' latencies), for
	// attempts that a retry could follow (see Client.perTry: three times
	// that high latency, at least 250 ms, and only if a retry still fits).
	// A negative value gives each attempt all that is left.
	PerTryTimeout time.Duration
	// HedgeAfter, when positive, hedges the first attempt of idempotent
	// requests with a replayable body: when no answer has come after this
	// long, and the budget left still holds this long again, a second
	// attempt goes to another node and the first answer wins (the other is
	// cancelled). A hedge is counted as a retry in the retry budget and in
	// the retry member of the Sluice-Budget field. Zero, the default, turns
	// hedging off.
	HedgeAfter time.Duration
	// MinAttempt is the least budget worth a retry: none starts with less.
	MinAttempt time.Duration
	// AfterUpstreamRetries lets this hop retry requests on whose path a hop
	// above has already retried. Off by default: one layer retries.
	AfterUpstreamRetries bool
}

// DefaultRetryPolicy returns the policy a Client uses unless told otherwise:
// 2 retries, a retry budget of 20% plus 10/s, back-off 25 ms to 250 ms, a
// per-try timeout derived from the budget and the node's latency, 5 ms
// the least budget worth a retry.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries:  DefaultMaxRetries,
		BudgetRatio: DefaultRetryRatio, BudgetFloor: DefaultRetryFloor,
		BackoffBase: DefaultBackoffBase, BackoffCap: DefaultBackoffCap,
		MinAttempt: 5 * time.Millisecond,
	}
}

// WithRetryPolicy sets the client's retry policy.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithMaxRetries bounds the retries of one call; zero disables retries.
func WithMaxRetries(n int) Option { return func(c *Client) { c.retry.MaxRetries = n } }

type idempotentKey struct{}

// WithIdempotent marks the calls made with ctx as idempotent, whatever their
// method, so that they may be retried after they were sent. A request that
// carries an Idempotency-Key field counts as marked too.
func WithIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func idempotent(ctx context.Context, r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if len(r.Header["Idempotency-Key"]) > 0 {
		return true
	}
	marked, _ := ctx.Value(idempotentKey{}).(bool)
	return marked
}

// replayable reports whether r's body can be sent again.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// retryBudgets holds one RetryBudget per service.
type retryBudgets struct {
	ratio, floor float64
	now          func() time.Time
	m            sync.Map // service → *RetryBudget
}

func (b *retryBudgets) get(service string) *RetryBudget {
	if b == nil {
		return nil
	}
	if v, ok := b.m.Load(service); ok {
		return v.(*RetryBudget)
	}
	v, _ := b.m.LoadOrStore(service, NewRetryBudget(b.ratio, b.floor, DefaultRetryWindow, b.now))
	return v.(*RetryBudget)
}

// decision is what the attempt loop does after a failed attempt.
type decision uint8

const (
	giveUp       decision = iota
	giveUpNoMore          // give up, and tell the caller not to retry either
	retry
)

// decide applies the policy to a failed attempt (outcome NotSent or Failed).
// It withdraws from the retry budget when it answers retry, and returns the
// back-off to wait first. unread says that r's body, which cannot be
// replayed, was not read by the attempt: it can be sent as it is.
func (c *Client) decide(ctx context.Context, r *http.Request, resp *http.Response, o Outcome,
	attempt int, rb *RetryBudget, unread bool) (decision, time.Duration) {
	p := &c.retry
	if resp != nil && resp.Header.Get(RetryHeader) == RetryNo {
		return giveUpNoMore, 0
	}
	if attempt >= p.MaxRetries || !replayable(r) && !unread {
		return c.spent(attempt), 0
	}
	switch o {
	case NotSent:
	case Failed:
		if !idempotent(ctx, r) || (resp != nil && !retryableStatus(resp.StatusCode)) {
			return c.spent(attempt), 0
		}
		if upstreamRetries(ctx, p) {
			return giveUp, 0 // a hop above is retrying this path already
		}
	default:
		return giveUp, 0
	}
	wait := backoff(attempt+1, p.BackoffBase, p.BackoffCap, c.rand)
	if d, ok := ctx.Deadline(); ok && d.Sub(c.now())-wait < max(p.MinAttempt, time.Millisecond) {
		return giveUpNoMore, 0 // no budget left for an attempt worth making
	}
	if rb != nil && !rb.TryRetry() {
		if c.obs != nil {
			c.obs.RetryRefused(r.URL.Host)
		}
		return giveUpNoMore, 0 // the service is failing broadly: stop multiplying load
	}
	return retry, wait
}

// spent is the verdict when this hop may not retry: "no more" once it has
// retried, so that the layers above do not retry what it already did.
func (c *Client) spent(attempt int) decision {
	if attempt > 0 {
		return giveUpNoMore
	}
	return giveUp
}
