package upstream

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// admit returns node, the picker's choice for an attempt, when its limit
// lets one more request in with the budget ctx has left; else another node
// of p that the limits admit, avoiding the call's tried nodes while any
// other is left. When no node is admitted it returns an *OverloadedError
// if some node was only full, else a *BudgetTooLowError. The common case,
// node admitted, takes no lock and allocates nothing. It also returns the
// admitted node's limit, nil when the node has none yet (admitLimit).
func (c *Client) admit(ctx context.Context, service string, p selector.Picker, node *registry.Node,
	tried []*registry.Node, pin string, aside float64, now time.Time) (*registry.Node, *nodeLimit, error) {
	left := c.leftAt(ctx, now)
	v, nl := c.limits.admitLimit(node, aside, left)
	if v == admitted {
		return node, nl, nil
	}
	var exBuf [8]*registry.Node
	var outBuf [4]*registry.Node
	out := outBuf[:0] // the nodes the limits refused
	anyFull, need := false, time.Duration(1<<63-1)
	for {
		out = append(out, node)
		if v == full {
			anyFull = true
		} else if nl != nil {
			need = min(need, time.Duration(nl.minRTT.Load()))
		}
		ex := append(append(exBuf[:0], tried...), out...)
		next, err := p.Pick(selector.PickInfo{Tried: ex, Version: pin})
		if err == nil && len(tried) > 0 && has(ex, next) {
			// Every other node is refused: the tried ones may serve again.
			next, err = p.Pick(selector.PickInfo{Tried: out, Version: pin})
		}
		if err != nil || has(out, next) {
			if anyFull {
				return nil, nil, &OverloadedError{Service: service}
			}
			return nil, nil, &BudgetTooLowError{Service: service, Left: left, Need: need}
		}
		node = next
		if v, nl = c.limits.admitLimit(node, aside, left); v == admitted {
			return node, nl, nil
		}
	}
}

// has reports whether n is in nodes, by identity.
func has(nodes []*registry.Node, n *registry.Node) bool {
	for _, x := range nodes {
		if x.Same(n) {
			return true
		}
	}
	return false
}

// countRefusal counts a call that its first pick refused.
func (c *Client) countRefusal(err error) {
	switch err.(type) {
	case *OverloadedError:
		c.limits.shed.Add(1)
	case *BudgetTooLowError:
		c.limits.tooLow.Add(1)
	}
}

// teach tells node's limit what an attempt whose round trip started at
// sent (when its body ended, for one with a body: limit_upload.go) showed:
// an answer's round trip; a per-try timeout, or an answer 503 with
// Retry-After (the node says it is overloaded), as a sign of overload; an
// attempt that the call's end cut short, as a round trip at least that
// long. Other failures (a refused connection, a lost one, a plain 5xx) are
// ejection's business. whole is false when the node never had the whole
// request: an attempt that then ended without an answer made no round trip
// of the node's. known is node's limit when the attempt has it, else nil.
// try is the attempt's whole time, from its sending (the node's latency,
// for its per-try timeout: pertry.go).
func (c *Client) teach(node *registry.Node, known *nodeLimit, o Outcome, resp *http.Response, err error, sent time.Time,
	whole bool, now time.Time, try time.Duration) {
	switch {
	case !whole && resp == nil:
	case o == Success || o == Rejected:
		c.limits.ofKnown(node, known).observe(now.Sub(sent), try, now)
	case o == Failed && resp == nil && errors.Is(err, context.DeadlineExceeded),
		(o == Failed || o == NotSent) && resp != nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		c.limits.ofKnown(node, known).backOff(now)
	case o == Abandoned && resp == nil:
		if known != nil {
			known.atLeast(now.Sub(sent), now)
		} else {
			c.limits.atLeast(node, now.Sub(sent), now)
		}
	}
}
