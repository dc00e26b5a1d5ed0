package upstream

import (
	"context"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/tracing"
)

// inFlight is one attempt of a hedged call: where it went, what releases
// it, and, once it has ended, its answer or error.
type inFlight struct {
	node   *registry.Node
	done   func()             // ends its count in Loads
	cancel context.CancelFunc // ends its context
	at     time.Time
	kind   AttemptKind
	resp   *http.Response
	err    error
}

// release discards the attempt's answer and lets it go.
func (a inFlight) release() {
	a.cancel()
	closeBody(a.resp)
	a.done()
}

// hedges reports whether the first attempt of r may be hedged: hedging is
// on (RetryPolicy.HedgeAfter), retries are, r may be sent twice
// (idempotent, with a replayable body), and no hop above retries on its
// path (a hedge is a retry, and only one layer retries: a hop that
// received retry>0 hedged anyway, and with hedging at every hop each
// layer doubled the requests the next one got).
func (c *Client) hedges(ctx context.Context, r *http.Request, attempt int) bool {
	return c.retry.HedgeAfter > 0 && attempt == 0 && c.retry.MaxRetries > 0 && idempotent(ctx, r) && replayable(r) &&
		!streaming(ctx) && !upgrades(r) && !upstreamRetries(ctx, &c.retry)
}

// upstreamRetries reports whether a hop above retries on the path of the
// call of ctx (it received retry>0), so that this one must not, unless p
// says AfterUpstreamRetries.
func upstreamRetries(ctx context.Context, p *RetryPolicy) bool {
	info, ok := budget.FromContext(ctx)
	return ok && info.Retries > 0 && !p.AfterUpstreamRetries
}

// hedged sends out, the first attempt of r, as first says and, when no
// answer has come after RetryPolicy.HedgeAfter, the budget left still holds
// that long again and the retry budget allows one more attempt (a hedge is
// counted as a retry), a copy to another node. The first answer that is not
// a gateway-class failure (502, 503, 504) wins; the other attempt is
// cancelled and released when it ends. When both fail, the first attempt's
// failure is returned for the retry policy to judge. It returns the other
// node when a hedge was sent, so that retries avoid it too.
func (c *Client) hedged(ctx context.Context, r *http.Request, service, pin string, out *http.Request,
	by onBehalf, first inFlight, rb *RetryBudget) (inFlight, *registry.Node) {
	// The attempts must not share the header map a later attempt writes.
	out.Header = r.Header.Clone()
	results := make(chan inFlight, 2)
	launch := func(a inFlight, req *http.Request, number int) {
		go func() {
			var span tracing.AttemptSpan
			if c.tracer != nil {
				req, span = c.traceHedged(req, service, a.node, number)
			}
			waits := c.limits.sending(a.node, nil)
			a.resp, a.err = c.attempt.RoundTrip(req)
			waits.answered()
			if a.err == nil && a.resp.Body == nil {
				a.resp.Body = http.NoBody
			}
			if c.tracer != nil {
				span.End(classify(ctx, time.Time{}, a.resp, a.err, c.left(ctx), c.slack()).String(), a.resp, a.err)
			}
			results <- a
		}()
	}
	launch(first, out, 0)
	timer := time.NewTimer(c.retry.HedgeAfter)
	select {
	case a := <-results:
		timer.Stop()
		return a, nil
	case <-timer.C:
	}
	second, req, ok := c.hedge(ctx, r, service, pin, first.node, rb)
	if !ok {
		return <-results, nil
	}
	launch(second, req, 1)
	a := <-results
	if a.err != nil || retryableStatus(a.resp.StatusCode) {
		// The first to end failed: the other may still answer.
		b := <-results
		if b.err == nil && !retryableStatus(b.resp.StatusCode) {
			a, b = b, a
		} else if b.node.Same(first.node) {
			a, b = b, a // both failed: the first attempt's failure is returned
		}
		o := classify(ctx, time.Time{}, b.resp, b.err, c.left(ctx), c.slack())
		c.judge(b.node, o, b.err, by)
		c.observeEnd(ctx, service, b, o)
		b.release()
		return a, other(a, first.node, second.node)
	}
	// a won; the other is cancelled (nobody's fault: not judged) and
	// released when it ends.
	if a.node.Same(first.node) {
		second.cancel()
		c.observeEnd(ctx, service, second, Abandoned)
	} else {
		first.cancel()
		c.observeEnd(ctx, service, first, Abandoned)
	}
	go func() { (<-results).release() }()
	return a, other(a, first.node, second.node)
}

// other returns whichever of x and y a did not go to.
func other(a inFlight, x, y *registry.Node) *registry.Node {
	if a.node.Same(x) {
		return y
	}
	return x
}

// hedge prepares the hedge of r on a node other than tried, if the budget
// and the retry budget allow it.
func (c *Client) hedge(ctx context.Context, r *http.Request, service, pin string, tried *registry.Node,
	rb *RetryBudget) (inFlight, *http.Request, bool) {
	if c.left(ctx) < c.retry.HedgeAfter+c.slack() {
		return inFlight{}, nil, false // no room for a second attempt to finish
	}
	svc := c.service(service)
	node, _, _, err := c.pick(ctx, svc, service, []*registry.Node{tried}, pin, 0, c.now())
	if err != nil || node.Same(tried) {
		return inFlight{}, nil, false
	}
	if rb != nil && !rb.TryRetry() {
		if c.obs != nil {
			c.obs.RetryRefused(service)
		}
		return inFlight{}, nil, false
	}
	actx, _, _ := c.attemptContext(ctx, service, node, 1, 0, false, time.Time{}) // no per-try cut: a cancel
	hctx, hcancel := context.WithCancel(actx)
	h, err := budget.Outgoing(hctx, c.now(), c.margin, c.timeout, 1)
	if err != nil {
		hcancel()
		return inFlight{}, nil, false
	}
	req, err := attemptRequest(hctx, r, node, 1, svc.tls)
	if err != nil {
		hcancel()
		return inFlight{}, nil, false
	}
	req.Header = r.Header.Clone()
	req.Header.Set(budget.HeaderName, h.String())
	if c.obs != nil {
		c.obs.AttemptStart(hctx, service, node, h)
	}
	return inFlight{node: node, done: c.loads.Start(node), cancel: hcancel, at: c.now(), kind: HedgeAttempt}, req, true
}

// observeEnd tells the observer how a hedged call's other attempt, a,
// ended.
func (c *Client) observeEnd(ctx context.Context, service string, a inFlight, o Outcome) {
	if c.obs != nil {
		c.obs.AttemptEnd(ctx, service, a.node, a.kind, o, c.now().Sub(a.at))
	}
}

// traceHedged starts the span of one attempt of a hedged call, whose request
// req has a header of its own, and sends its traceparent.
func (c *Client) traceHedged(req *http.Request, service string, node *registry.Node, number int) (*http.Request, tracing.AttemptSpan) {
	sent, _ := budget.ParseFields(req.Header.Values(budget.HeaderName))
	ctx, span := c.tracer.StartAttempt(req.Context(), tracing.Attempt{
		Service: service, Node: node.Address, Number: number, Hedge: number > 0, Sent: sent})
	req = req.WithContext(ctx)
	c.tracer.Inject(ctx, req.Header)
	span.SetRequestID(req.Header)
	return req, span
}
