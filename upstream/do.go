package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// Do sends r to a node of the service that r.URL.Host names and returns the
// node's answer, whatever its status: only transport failures are errors.
//
// Each attempt goes to a node chosen at that moment, carries the budget left
// at that moment in its Sluice-Budget field, and runs under r's context; a
// context with no deadline gets the client's default timeout. Do sets that
// field in r.Header, so r must not be in use elsewhere. A failed attempt is
// retried on another node when the request provably never left (any method),
// or when it may have but the method is idempotent, within the client's retry
// count and while the budget lasts. A retried request with a body needs
// r.GetBody, as http.NewRequest sets for in-memory bodies.
//
// A context pinned with WithVersion confines every attempt to nodes of that
// version.
//
// The caller must close the response body: the request counts as in flight
// on its node, for the least-loaded strategy, until it does.
func (c *Client) Do(r *http.Request) (*http.Response, error) {
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

// do runs the attempts of r under ctx. The body of the response it returns
// calls cancel, when not nil, on Close.
func (c *Client) do(ctx context.Context, r *http.Request, cancel context.CancelFunc) (*http.Response, error) {
	service := r.URL.Host
	pin := PinnedVersion(ctx)
	if r.Header == nil { // net/http treats it as empty; attempts share it and set the budget in it
		r.Header = make(http.Header)
	}
	var triedBuf [4]*registry.Node
	tried := triedBuf[:0]
	for attempt := 0; ; attempt++ {
		nodes, err := c.disc.Lookup(ctx, service)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				// The caller left or the budget ran out during discovery:
				// 499 or 504, not the service's fault.
				return nil, fmt.Errorf("upstream: discovering %s: %w", service, cerr)
			}
			return nil, &NoNodesError{Service: service, Err: err}
		}
		node, err := c.picker(service, nodes).Pick(selector.PickInfo{Tried: tried, Version: pin})
		if err != nil {
			return nil, &NoNodesError{Service: service, Err: err}
		}
		h, err := budget.Outgoing(ctx, c.now(), c.margin, c.timeout, attempt)
		if err != nil {
			return nil, fmt.Errorf("upstream: %s: %w", service, err)
		}
		out, err := attemptRequest(ctx, r, node, attempt)
		if err != nil {
			return nil, err
		}
		var buf [48]byte
		r.Header[budget.HeaderName] = []string{string(h.Append(buf[:0]))}

		done := c.loads.Start(node)
		resp, err := c.transport.RoundTrip(out)
		if err == nil {
			if resp.Body == nil { // a RoundTripper breaking its contract
				resp.Body = http.NoBody
			}
			resp.Body = &attemptBody{ReadCloser: resp.Body, done: done, cancel: cancel}
			return resp, nil
		}
		done()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("upstream: %s at %s: %w", service, node.Address, cerr)
		}
		sent := !notSent(err)
		tried = append(tried, node)
		if attempt >= c.maxRetries || !retryable(r, sent) {
			return nil, &AttemptError{Service: service, Node: node.Address, Sent: sent, Err: err}
		}
	}
}

// attemptRequest returns the request of one attempt: r aimed at node, with a
// fresh body for a retry.
func attemptRequest(ctx context.Context, r *http.Request, node *registry.Node, attempt int) (*http.Request, error) {
	out := r.WithContext(ctx)
	u := *r.URL
	u.Scheme = "http"
	u.Host = node.Address
	out.URL = &u
	if out.Host == "" {
		out.Host = node.Address
	}
	if attempt > 0 && r.Body != nil && r.Body != http.NoBody {
		body, err := r.GetBody()
		if err != nil {
			return nil, fmt.Errorf("upstream: replaying the request body: %w", err)
		}
		out.Body = body
	}
	return out, nil
}

// retryable reports whether a failed attempt may be sent again: always when
// it never left, else only when the method is idempotent; and only when the
// body can be replayed.
func retryable(r *http.Request, sent bool) bool {
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
		return false
	}
	if !sent {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// attemptBody is the body of an attempt's answer. Its first Close ends the
// attempt: the request stops counting as in flight on its node, and the
// call's own deadline, if Do set one, is released.
type attemptBody struct {
	io.ReadCloser
	done   func()
	cancel context.CancelFunc // nil when the caller's context had a deadline
	closed atomic.Bool
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	if b.closed.CompareAndSwap(false, true) {
		b.done()
		if b.cancel != nil {
			b.cancel()
		}
	}
	return err
}
