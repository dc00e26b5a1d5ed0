package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/requestid"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/upstream/h1"
)

// Do sends r to a node of the service that r.URL.Host names and returns the
// node's answer, whatever its status: only transport failures are errors.
//
// Each attempt goes to a node chosen at that moment, carries the budget left
// at that moment in its Sluice-Budget field, and runs under r's context; a
// context with no deadline gets the client's default timeout. Do sets that
// field in r.Header, so r must not be in use elsewhere. An attempt sends a
// copy of r aimed at its node, or, over the default transport, r itself for
// the first attempt of a request without a body (the transport aims it at
// the node): r is left as it was either way, and the answer's Request is
// the request sent. A failed attempt is retried on another node when the
// request provably never left (any method), or when it may have but the
// method is idempotent, within the client's retry count and while the
// budget lasts. A retried request with a body needs
// r.GetBody, as http.NewRequest sets for in-memory bodies, unless the
// attempt provably sent nothing and read none of the body: r.Body then goes
// to the next attempt as it is (the failed attempt's Close of it is held
// back). When the retries
// end with no answer of their own, Do returns the last answer a node gave.
//
// A failure of r's own body (a read error with ClientFault() true) ends the
// call at once with that error, blaming no node; so does the end of the
// budget, with an error that rpc.StatusOf maps to 504 (or 499 when the
// caller left).
//
// A node at its concurrency limit (see Limits) is skipped; a call whose
// every node is at its limit is refused before anything is sent, with an
// *OverloadedError (503), and one whose budget left is below every node's
// fastest answer with a *BudgetTooLowError (504).
//
// A context pinned with WithVersion confines every attempt to nodes of that
// version.
//
// The caller must close the response body: the request counts as in flight
// on its node, for the least-loaded strategy, until it does. An answer with
// a body is judged when its body ends: one the node cut short counts
// against the node and, as a failed call, for the service's breaker.
func (c *Client) Do(r *http.Request) (*http.Response, error) { return c.call(r) }

// doWithDeadline gives a call without a deadline the client's default
// timeout, then runs its attempts.
func (c *Client) doWithDeadline(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	if _, ok := ctx.Deadline(); ok {
		return c.do(ctx, r, nil)
	}
	// The deadline is read off the client's clock, as every attempt's budget
	// is: on another clock the budget sent could exceed the default timeout.
	ctx, cancel := context.WithDeadline(ctx, c.now().Add(c.timeout))
	resp, err := c.do(ctx, r, cancel)
	if err != nil {
		cancel()
		return nil, err
	}
	return resp, nil
}

// Attempt describes one attempt of a call, for attempt wrappers.
type Attempt struct {
	Service string
	Node    *registry.Node
	// Number counts from 0 for the first attempt.
	Number int
}

type attemptKey struct{}

// AttemptFromContext returns the attempt that a request inside an attempt
// wrapper belongs to.
func AttemptFromContext(ctx context.Context) (Attempt, bool) {
	a, ok := ctx.Value(attemptKey{}).(Attempt)
	return a, ok
}

// do runs the attempts of r under ctx. The body of the response it returns
// calls cancel, when not nil, on Close.
func (c *Client) do(ctx context.Context, r *http.Request, cancel context.CancelFunc) (*http.Response, error) {
	service := r.URL.Host
	pin := PinnedVersion(ctx)
	if r.Header == nil { // net/http treats it as empty; attempts share it and set the budget in it
		r.Header = make(http.Header)
	}
	if id := requestid.FromContext(ctx); id != "" && len(r.Header[requestid.HeaderName]) == 0 {
		r.Header[requestid.HeaderName] = []string{id} // every attempt names the request
	}
	svc := c.service(service)
	rb := svc.budget
	caller := c.caller(r)
	tk, err := svc.breaker.admit(caller)
	if err != nil {
		return nil, err
	}
	final, nodes := Abandoned, 0 // the call's outcome, for the breaker
	var end time.Time            // when the last attempt ended, on the client's clock
	// An answer whose body is judged at its end takes tk along (tk is then
	// the zero ticket here): its body's end counts the call.
	var share *callerShare // the service's, once the call is counted in its caller's share (limit_share.go)
	defer func() {
		tk.done(final, nodes, c.shared(end))
		share.leave(caller)
	}()
	var tried []*registry.Node // allocated only when a retry or a hedge happens
	var ca *callAlloc          // made by the first attempt sent
	var lastErr error          // the previous attempt's failure, should a retry not start
	var kept *http.Response    // the last answer a retry was made after, in memory
	var aside float64          // the share of in-flight requests the queue check leaves out: limit_share.go

	by := onBehalf{caller: caller} // whom the call serves, for the ejector
	stream := streaming(ctx)       // read once: a walk of the context's values
	// unsent: r.Body, which cannot be replayed, was read by no attempt and
	// closed by none (watchedBody.take); the next attempt takes it, or,
	// should the call end first, it is closed here.
	var unsent bool
	defer func() {
		if unsent {
			r.Body.Close()
		}
	}()
	for attempt := 0; ; attempt++ {
		// One reading of the clock serves the attempt until it is sent:
		// the pick's budget left, the per-try timeout, the budget sent and
		// the time it was sent (a few microseconds apart otherwise). A call
		// that ends before this attempt ends leaves its breaker to read
		// the clock (end is zero), not to take the last attempt's end.
		now := c.now()
		end = time.Time{}
		if attempt == 0 {
			sh, ok, a, others := c.limits.enter(service, caller, svc.nodes(), now)
			if !ok {
				err := &OverloadedError{Service: service, Share: true}
				c.countRefusal(err)
				return nil, err
			}
			aside, share, by.others = a, sh, others
		}
		node, nl, n, err := c.pick(ctx, svc, service, tried, pin, aside, now)
		if attempt == 0 {
			if err != nil {
				c.countRefusal(err)
			} else if rb != nil {
				rb.requestAt(now) // a call refused before sending is no request
			}
		}
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				c.exhausted(ctx, service) // the budget ended before a node was found
			}
			if kept != nil {
				return giveBack(kept, cancel), nil
			}
			return nil, firstErr(lastErr, err)
		}
		nodes = n
		perTry, unknown := c.perTry(ctx, r, svc, nl, attempt, rb, now, stream)
		hedging := c.hedges(ctx, r, attempt)
		actx, acancel, try := c.attemptContext(ctx, service, node, attempt, perTry, !hedging, now)
		var cold *coldTry // watches an attempt sent before the service's latency was known (pertry.go)
		if unknown && !hedging {
			actx, cold, acancel = c.watchCold(actx, svc, nl, now, c.leftAt(ctx, now))
		}
		if hedging { // the first attempt must be cancellable should the hedge win
			var hc context.CancelFunc
			actx, hc = context.WithCancel(actx)
			pc := acancel
			acancel = func() { hc(); pc() }
		}
		h, err := budget.OutgoingWithin(actx, try, now, c.margin, c.timeout, attempt)
		if err != nil {
			acancel()
			c.exhausted(ctx, service)
			if kept != nil {
				return giveBack(kept, cancel), nil
			}
			return nil, firstErr(lastErr, fmt.Errorf("upstream: %s: %w", service, err))
		}
		var span tracing.AttemptSpan
		if c.tracer != nil && !hedging { // a hedged call's attempts are traced as they go (hedge.go)
			actx, span = c.tracer.StartAttempt(actx, tracing.Attempt{Service: service, Node: node.Address, Number: attempt, Sent: h})
		}
		out := r // the first attempt's request, when the transport can aim r at node itself
		if svc.tls != nil || !c.sendsAsIs(r, attempt, cancel == nil && !hedging && c.tracer == nil && cold == nil && (perTry <= 0 || !try.IsZero())) {
			if out, err = attemptRequest(actx, r, node, attempt, svc.tls); err != nil {
				span.End("not-sent", nil, err)
				acancel()
				return nil, err
			}
			unsent = false // the attempt's transport closes it
		}
		if ca == nil {
			ca = new(callAlloc)
		}
		r.Header[budget.HeaderName] = ca.budgetField(attempt, h)
		if c.tracer != nil && !hedging {
			c.tracer.Inject(actx, r.Header)
			span.SetRequestID(r.Header)
		}

		if c.obs != nil {
			c.obs.AttemptStart(actx, service, node, h)
		}
		done := c.loads.Start(node)
		// The attempt counts in its node's queue until its answer's head
		// (limit.go); one with a body, from when its body ended
		// (limit_upload.go). A hedged call's attempts are counted as they
		// go (hedge.go).
		var waits *nodeLimit
		wb, _ := out.Body.(*watchedBody)
		switch {
		case hedging:
			nl = nil // the answer may come from another node (hedge.go)
		case wb != nil && c.limits != nil:
			wb.wait.nl, wb.wait.now = c.limits.ofKnown(node, nl), c.now
			nl = wb.wait.nl
		default:
			waits = c.limits.sending(node, nl)
			nl = waits
		}
		sent := now
		kind := kindOf(attempt)
		var resp *http.Response
		if hedging {
			a, other := c.hedged(ctx, r, service, pin, out, by,
				inFlight{node: node, done: done, cancel: acancel, at: sent, kind: kind}, rb)
			node, done, acancel, sent, resp, err, kind = a.node, a.done, a.cancel, a.at, a.resp, a.err, a.kind
			if other != nil {
				tried = append(tried, other)
				// A hedge is a retry: it counts towards max_retries and in
				// the retry member of the attempts after it.
				attempt++
			}
		} else if c.byDeadline != nil {
			resp, err = c.byDeadline.RoundTripAt(out, node.Address, try)
		} else {
			resp, err = c.attempt.RoundTrip(out)
		}
		if cold != nil && cold.answered() {
			// Cut as a per-try timeout would have cut it: an answer that
			// crossed the cut is given up, its body cancelled with it. An
			// attempt the cut caught before it sent anything (its connect,
			// its TLS handshake or its wait for a connection) keeps its
			// error, which says so: it goes to another node whatever its
			// method, where errColdTry would have left a POST failed.
			if resp != nil && resp.Body != nil {
				closeBody(resp)
			}
			if err == nil || !notSent(err) {
				resp, err = nil, errColdTry
			}
		}
		waits.answered()
		from, whole := sent, true // the round trip's start, and whether the node had the whole request
		if wb != nil {
			var at time.Time
			if at, whole = wb.wait.over(); whole && at.After(from) {
				from = at
			}
		}
		if err != nil {
			if cf := clientsFault(ctx, out, err); cf != nil {
				err = cf
			}
		}
		if err == nil && resp.Body == nil { // a RoundTripper breaking its contract
			resp.Body = http.NoBody
		}
		if err == nil {
			if err = unfitAnswer(out, resp); err != nil {
				resp.Body.Close()
				resp = nil
			}
		}
		end = c.now() // the attempt's one reading after it ended
		outcome := classify(ctx, c.shared(end), resp, err, c.leftAt(ctx, end), c.slack())
		// A node that will not start on the budget the call has did no
		// work: nobody's fault (Abandoned), but another node may start on
		// it, and this one is avoided by selection (refusedBudget).
		refusedBudget := outcome == Failed && resp != nil && resp.StatusCode == http.StatusGatewayTimeout && budgetTooLow(resp)
		if refusedBudget {
			outcome = Abandoned
			c.loads.Penalize(node)
		}
		if outcome == Rejected && resp.StatusCode == http.StatusTooManyRequests {
			// The node's own limit refused the request, at once: a
			// business answer, blamed by neither ejection nor breaker, but
			// the fastest answer least-loaded selection would otherwise
			// favour, a node limited to less than its share drawing most
			// calls (61 to 64 % of them with three nodes).
			c.loads.Penalize(node)
		}
		// A body without GetBody goes to the next attempt as it is, only
		// when this one provably sent nothing and read none of it.
		resend := false
		if outcome == NotSent || refusedBudget {
			resend = wb.take()
		} else {
			wb.release()
		}
		final = outcome
		span.End(outcome.String(), resp, err)
		if outcome.Fault() && !declined(outcome, err) {
			tk.nodeFault(node, c.shared(end))
		}
		if c.obs != nil {
			c.obs.AttemptEnd(ctx, service, node, kind, outcome, end.Sub(sent))
		}
		if outcome == Success || outcome == Rejected {
			svc.latency.observe(end.Sub(sent), end)
		}
		later := judgedAtEnd(outcome, resp)
		if !later {
			c.judge(node, outcome, err, by)
		}
		if c.limits != nil {
			c.teach(node, nl, outcome, resp, err, from, whole, end, end.Sub(sent))
		}
		switch {
		case outcome == Success || outcome == Rejected || outcome == Abandoned && resp != nil && !refusedBudget:
			// An answer, the node's 504 at the end of the budget included,
			// goes back as it is.
			c.freeBody(resp, perTry, stream)
			resp.Body = answerBodyIn(&ca.body, resp.Body, done, cancel, acancel)
			if later {
				ca.body.verdict = pendingVerdict{c: c, ctx: ctx, node: node, outcome: outcome, by: by}
				if tk.countsAtEnd() {
					// The call counts for the breaker as its body ends.
					ca.body.verdict.tk, ca.body.verdict.nodes = tk, int32(nodes)
					tk = ticket{}
				}
			}
			return resp, nil
		case outcome == ClientFault:
			// The client's own request failed the attempt: its error speaks
			// for itself (rpc.StatusOf reaches its Problem), not as an
			// AttemptError blaming the node.
			done()
			acancel()
			return nil, fmt.Errorf("upstream: %s at %s: %w", service, node.Address, err)
		case outcome == Local:
			done()
			acancel()
			return nil, &LocalError{Service: service, Err: err}
		case outcome == Abandoned && !refusedBudget:
			if !errors.Is(ctx.Err(), context.Canceled) && c.limits.silent(node, sent, end) {
				c.judge(node, Failed, err, by) // it answered nothing, to anyone (limit_silent.go)
			}
			done()
			acancel()
			c.exhausted(ctx, service)
			return nil, &budgetEndError{service: service, node: node.Address, ctxErr: ctx.Err(), err: err}
		}
		tried = append(tried, node)
		decided := outcome
		if refusedBudget {
			decided = NotSent // no work was done: another node, for any method
		}
		verdict, wait := c.decide(ctx, r, resp, decided, attempt, rb, resend)
		unsent = resend // its attempt's Close was held back: the next attempt's, or the deferred one
		if verdict != retry {
			if resp != nil {
				// The node's own answer goes back, marked when this hop
				// has done all the retrying the path should get.
				if verdict == giveUpNoMore {
					resp.Header.Set(RetryHeader, RetryNo)
				}
				c.freeBody(resp, perTry, stream)
				resp.Body = answerBodyIn(&ca.body, resp.Body, done, cancel, acancel)
				return resp, nil
			}
			done()
			acancel()
			if kept != nil {
				// The last real answer tells more than "no answer".
				return giveBack(kept, cancel), nil
			}
			return nil, &AttemptError{Service: service, Node: node.Address, Sent: outcome != NotSent,
				Attempts: attempt + 1, NoMore: verdict == giveUpNoMore, Err: err}
		}
		if resp != nil {
			lastErr = &AttemptError{Service: service, Node: node.Address, Sent: true, Attempts: attempt + 1,
				Err: fmt.Errorf("answered %s", resp.Status)}
			if k := keep(resp); k != nil {
				kept = k
			}
		} else {
			lastErr = &AttemptError{Service: service, Node: node.Address, Sent: outcome != NotSent,
				Attempts: attempt + 1, Err: err}
		}
		closeBody(resp)
		done()
		acancel()
		if err := sleep(ctx, wait); err != nil {
			final = Abandoned
			c.exhausted(ctx, service)
			return nil, fmt.Errorf("upstream: %s: waiting to retry: %w", service, err)
		}
	}
}

// pick discovers the nodes of svc, named service, leaves out the ejected
// ones and picks one that this call has not tried and that its concurrency
// limit admits, with the budget ctx has left at now. It returns the node,
// its limit when the limits have one for it (else nil), and how many nodes
// discovery gave.
func (c *Client) pick(ctx context.Context, svc *service, service string, tried []*registry.Node, pin string,
	aside float64, now time.Time) (*registry.Node, *nodeLimit, int, error) {
	nodes, err := c.disc.Lookup(ctx, service)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller left or the budget ran out during discovery:
			// 499 or 504, not the service's fault.
			return nil, nil, 0, fmt.Errorf("upstream: discovering %s: %w", service, cerr)
		}
		return nil, nil, 0, &NoNodesError{Service: service, Err: err}
	}
	total := len(nodes)
	c.noteSnapshot(svc, nodes)
	if c.ejector != nil {
		nodes = c.ejector.Available(service, nodes)
	}
	p := c.picker(svc, service, nodes)
	node, err := p.Pick(selector.PickInfo{Tried: tried, Version: pin})
	if err != nil {
		return nil, nil, 0, &NoNodesError{Service: service, Err: err}
	}
	var nl *nodeLimit
	if c.limits != nil {
		if node, nl, err = c.admit(ctx, service, p, node, tried, pin, aside, now); err != nil {
			return nil, nil, total, err
		}
	}
	return node, nl, total, nil
}

// attemptContext returns the context of one attempt: the call's, cut to the
// per-try timeout t from now when positive, and carrying the Attempt when wrappers
// want it. When own is true and the transport keeps a deadline of the
// attempt's own (a deadlineTransport, with no attempt wrappers), the cut is
// left to it: the context is the call's and try is the attempt's deadline,
// to send the attempt with (RoundTripAt) and to compute its budget with
// (budget.OutgoingWithin). That spares a context, its timer and its
// cancellation hooks per attempt. try is zero otherwise.
func (c *Client) attemptContext(ctx context.Context, service string, node *registry.Node, n int, t time.Duration,
	own bool, now time.Time) (actx context.Context, cancel context.CancelFunc, try time.Time) {
	cancel = nop
	if t > 0 {
		dl := now.Add(t)
		if own && c.byDeadline != nil && len(c.attemptWrappers) == 0 {
			return ctx, cancel, dl
		}
		ctx, cancel = context.WithDeadline(ctx, dl)
	}
	if len(c.attemptWrappers) > 0 {
		ctx = context.WithValue(ctx, attemptKey{}, Attempt{Service: service, Node: node, Number: n})
	}
	return ctx, cancel, time.Time{}
}

// liftDerivedTry frees the body of resp, an answer going back to the
// caller, from a per-try timeout the client derived (pertry.go), on the
// lean transport, where the attempt's deadline is the round trip's own
// (h1.LiftTry): the derived timeout bounds the wait for an answer, a
// quarter of a second or so, and the body's pace is its reader's. A
// gateway passing a large answer on to a slow client had it cut there,
// short, once the service had given the 20 answers the derivation needs.
// A per-try timeout set in the policy bounds the whole attempt, body
// included, as a per-attempt timeout of the user's choosing; so does a
// derived one an attempt carries in its context (another transport, a
// hedge, attempt wrappers), which cannot be lifted.
//
// What the derived timeout still bounds is the node's stall: each read of
// the body that waits for the node gets no longer than it (h1.LiftTry's
// idle), and one cut so is the node's failure (classifyBody), where a
// body that stalled went unblamed until the budget ended.
func (c *Client) liftDerivedTry(resp *http.Response, perTry time.Duration) {
	if c.retry.PerTryTimeout == 0 && perTry > 0 {
		h1.LiftTry(resp.Body, perTry)
	}
}

// freeBody readies resp's body, going back to the caller, for a read at
// its reader's pace: liftDerivedTry, and, for a stream's answer (stream:
// the call's context is marked WithStream: a stream route's server-sent events, a
// long download), h1.Detach, which takes its connection out of its node's
// count of connections while it lasts (an hour, on a stream route): 256
// such streams from one client held every connection of their node, and
// every other request to it waited for one until its budget ended
// (TestLongStreamsLeaveTheNodesPool in e2e/hostile).
func (c *Client) freeBody(resp *http.Response, perTry time.Duration, stream bool) {
	c.liftDerivedTry(resp, perTry)
	if stream {
		h1.Detach(resp.Body)
	}
}

// nop is the cancel function of an attempt that has no context of its own.
func nop() {}

// deadlineTransport is a transport that sends a request to a node other
// than its URL's host and cuts the round trip at a deadline of its own, as
// if the request were a copy aimed at the node, under a context with that
// deadline, without either made for it: *h1.Transport, the default.
type deadlineTransport interface {
	RoundTripAt(req *http.Request, addr string, deadline time.Time) (*http.Response, error)
}

// sendsAsIs reports whether attempt of r can send r itself, not a copy:
// the first attempt, over a deadlineTransport (which aims it at the node),
// when its context is r's own (sameCtx: no per-try context, no tracing,
// no hedge, no deadline of Do's making), and r is what attemptRequest would
// copy it as, but for its URL's host: no body to watch, a Host field, an
// "http" URL. Retries and hedges get copies of their own.
func (c *Client) sendsAsIs(r *http.Request, attempt int, sameCtx bool) bool {
	return attempt == 0 && sameCtx && c.byDeadline != nil && len(c.attemptWrappers) == 0 &&
		(r.Body == nil || r.Body == http.NoBody) && r.Host != "" && r.URL.Scheme == "http"
}

// firstErr returns the earlier failure when there was one: a retry that
// could not start does not hide why it was wanted.
func firstErr(earlier, err error) error {
	if earlier != nil {
		return earlier
	}
	return err
}

// left returns what is left of the call's budget on the client's clock.
func (c *Client) left(ctx context.Context) time.Duration {
	return c.leftAt(ctx, c.now())
}

// leftAt returns what is left of the call's budget at now, a reading of
// the client's clock.
func (c *Client) leftAt(ctx context.Context, now time.Time) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return c.timeout
	}
	return d.Sub(now)
}

// shared returns now, a reading of the client's clock, for the breakers to
// use instead of reading their own; or the zero time, which makes them read
// their own, when the client's clock is not time.Now (WithClock).
func (c *Client) shared(now time.Time) time.Time {
	if c.clockSet {
		return time.Time{}
	}
	return now
}

// slack is how close to its end a budget counts as spent when an attempt
// ends: less than the least budget worth a retry, and a node's deadline
// runs one margin (per hop) earlier than its caller's.
func (c *Client) slack() time.Duration {
	return max(c.retry.MinAttempt, 2*c.margin, time.Millisecond)
}

// judgedAtEnd reports whether the attempt that ended in outcome with resp
// is judged when the answer's body ends, not now: an answer (Success or
// Rejected) with a body to come, which the node may yet cut. A 101's body
// is a tunnel, whose end says nothing of the node.
func judgedAtEnd(o Outcome, resp *http.Response) bool {
	return (o == Success || o == Rejected) && resp.Body != http.NoBody &&
		resp.StatusCode != http.StatusSwitchingProtocols
}

// onBehalf is whom a call serves, as the ejector reads it
// (selector.Ejector.ReportOf): the caller (WithCaller), and whether other
// callers called the service as the call began (Limits tell; false
// without them).
type onBehalf struct {
	caller netip.Addr
	others bool
}

// judge tells the ejector and the node's load what an attempt on node,
// made for by, showed: a refused connection marks the node dead for a
// moment; any other dependency fault counts towards its ejection and
// weighs on its load (as a refusal does when there is no ejector).
// Outcomes that are nobody's fault tell nothing.
func (c *Client) judge(node *registry.Node, o Outcome, err error, by onBehalf) {
	switch {
	case declined(o, err):
		// Alive and answering, shedding its overload or draining: ejecting
		// it would send its load to the others, which would shed in turn.
		// Selection steers away from it, as from a node's 429.
		c.loads.Penalize(node)
	case o == NotSent && refused(err) && c.ejector != nil:
		// The ejector keeps it out for a moment, then probes it; a
		// penalty on top would only delay finding it back.
		c.ejector.Refused(node)
	case o.Fault():
		c.loads.Penalize(node)
		if c.ejector != nil {
			c.ejector.ReportOf(node, true, by.caller, by.others)
		}
	case o == Success || o == Rejected:
		if c.ejector != nil {
			c.ejector.ReportOf(node, false, by.caller, by.others)
		}
	}
}
