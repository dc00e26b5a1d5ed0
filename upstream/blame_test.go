package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// bodyFault is what the router's request body reader fails with when the
// client's body is malformed or cut short: the client's fault.
type bodyFault struct{}

func (bodyFault) Error() string     { return "the client's body was cut short" }
func (bodyFault) ClientFault() bool { return true }
func (bodyFault) Problem() (int, string, string) {
	return http.StatusBadRequest, "urn:test:bad-body", "Bad body"
}

// faultyBody gives a few bytes, then fails as a client's broken body does.
type faultyBody struct{ left int }

func (b *faultyBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, bodyFault{}
	}
	n := min(len(p), b.left)
	for i := range n {
		p[i] = 'x'
	}
	b.left -= n
	return n, nil
}

func (b *faultyBody) Close() error { return nil }

// countAttempts returns an attempt wrapper that counts the attempts made.
func countAttempts(n *atomic.Int64) upstream.Option {
	return upstream.WithAttemptWrapper(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return next.RoundTrip(r)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// assertNobodyBlamed checks that the client's breakers are closed and no node
// is ejected.
func assertNobodyBlamed(t *testing.T, c *upstream.Client) {
	t.Helper()
	for _, st := range c.Breakers().States() {
		if st.State != "closed" {
			t.Fatalf("breaker %+v: the service was blamed", st)
		}
	}
	if ej := c.Ejector().Ejections(); len(ej) != 0 {
		t.Fatalf("ejections %+v: a node was blamed", ej)
	}
}

// TestClientBodyFaultBlamesNobody sends requests whose body fails as a broken
// client's does: each fails at once with the body's own problem, is never
// retried, and neither opens the breaker nor ejects a node.
func TestClientBodyFaultBlamesNobody(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport func() http.RoundTripper
	}{
		{"lean transport", func() http.RoundTripper { return upstream.NewLeanTransport(upstream.TransportOptions{}) }},
		{"net/http transport", func() http.RoundTripper { return upstream.NewTransport() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c3 := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
			var attempts atomic.Int64
			c := upstream.New(staticOf(t, a.node(), b.node(), c3.node()),
				upstream.WithTransport(tc.transport()), countAttempts(&attempts))
			const calls = 12
			for i := range calls {
				r, err := http.NewRequest(http.MethodPut, "http://"+service+"/x", nil)
				if err != nil {
					t.Fatal(err)
				}
				r.Body, r.ContentLength = &faultyBody{left: 10}, 100
				r.GetBody = func() (io.ReadCloser, error) { return &faultyBody{left: 10}, nil }
				resp, err := c.Do(r)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("call %d succeeded with a broken body", i)
				}
				var ae *upstream.AttemptError
				if errors.As(err, &ae) {
					t.Fatalf("call %d: %v: the node was blamed", i, err)
				}
				if code, typ, _ := rpc.StatusOf(err); code != http.StatusBadRequest || typ != "urn:test:bad-body" {
					t.Fatalf("call %d: StatusOf = %d %s, want the body's own 400", i, code, typ)
				}
			}
			if n := attempts.Load(); n != calls {
				t.Fatalf("%d attempts for %d calls: a client's fault was retried", n, calls)
			}
			assertNobodyBlamed(t, c)
			resp, err := c.Do(get(t, context.Background(), "/"))
			if err != nil {
				t.Fatalf("a good call after the broken ones: %v", err)
			}
			readAll(t, resp)
		})
	}
}

// budgetBound is a backend that works for need unless its budget ends first,
// when it answers as an rpc server does: 504 budget-spent.
func budgetBound(t *testing.T, name string, need time.Duration) *backend {
	h := budget.Inbound(budget.ServerPolicy{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(need):
			_, _ = io.WriteString(w, name)
		case <-r.Context().Done():
			rpc.WriteError(w, r.Context().Err())
		}
	}))
	return newBackend(t, name, h.ServeHTTP)
}

// TestTightClientBudgetBlamesNobody has a client ask for 50 ms of a service
// that needs 150 ms: each of its calls gets the node's 504 budget-spent, and
// nobody else notices: no breaker opens, no node is ejected.
func TestTightClientBudgetBlamesNobody(t *testing.T) {
	a, b, c3 := budgetBound(t, "a", 150*time.Millisecond), budgetBound(t, "b", 150*time.Millisecond),
		budgetBound(t, "c", 150*time.Millisecond)
	c := newClient(t, staticOf(t, a.node(), b.node(), c3.node()))
	for i := range 12 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		resp, err := c.Do(get(t, ctx, "/"))
		switch {
		case err != nil:
			if code, _, _ := rpc.StatusOf(err); code != http.StatusGatewayTimeout {
				t.Fatalf("tight call %d: %v (%d), want 504", i, err, code)
			}
		case resp.StatusCode != http.StatusGatewayTimeout:
			t.Fatalf("tight call %d answered %d, want 504", i, resp.StatusCode)
		default:
			readAll(t, resp)
		}
		cancel()
	}
	assertNobodyBlamed(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatalf("another client's call after the tight ones: %v", err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("another client's call answered %d %s", resp.StatusCode, body)
	}
}

// TestAttemptCutByTheBudgetBlamesNobody has nodes that hold each request
// until its budget ends and then drop the connection: the failure is the
// budget's, not the node's.
func TestAttemptCutByTheBudgetBlamesNobody(t *testing.T) {
	drop := func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		dropConn(t, w)
	}
	h := budget.Inbound(budget.ServerPolicy{})(http.HandlerFunc(drop)).ServeHTTP
	a, b := newBackend(t, "a", h), newBackend(t, "b", h)
	c := newClient(t, staticOf(t, a.node(), b.node()))
	for i := range 12 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		resp, err := c.Do(get(t, ctx, "/"))
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Fatalf("call %d succeeded", i)
		}
		if code, _, _ := rpc.StatusOf(err); code != http.StatusGatewayTimeout {
			t.Fatalf("call %d: %v (%d), want 504", i, err, code)
		}
	}
	assertNobodyBlamed(t, c)
	if n := len(a.seen()) + len(b.seen()); n != 12 {
		t.Fatalf("%d attempts for 12 calls: an attempt cut by the budget was retried", n)
	}
}

// TestBudgetBelowANodesMinimumBlamesNobody calls nodes that refuse budgets
// under 500 ms (504 budget-too-low) with 100 ms: the budget is the call's,
// and no node or breaker pays for it. Another node may have a lower
// minimum, so a call tries the others, each once, within its retries
// (TestANodeThatRefusesTheBudgetIsNoBlackHole), and then gives back the
// last refusal.
func TestBudgetBelowANodesMinimumBlamesNobody(t *testing.T) {
	h := budget.Inbound(budget.ServerPolicy{Min: 500 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})).ServeHTTP
	a, b, c3 := newBackend(t, "a", h), newBackend(t, "b", h), newBackend(t, "c", h)
	c := newClient(t, staticOf(t, a.node(), b.node(), c3.node()))
	for i := range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		resp, err := c.Do(get(t, ctx, "/"))
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v, want the node's 504", i, err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "budget-too-low") {
			t.Fatalf("call %d answered %d %s", i, resp.StatusCode, body)
		}
	}
	assertNobodyBlamed(t, c)
	if n := len(a.seen()) + len(b.seen()) + len(c3.seen()); n > 30*3 {
		t.Fatalf("%d attempts for 30 calls: a node was asked twice in a call", n)
	}
}

// TestStalledUploadPastThePerTryTimeoutBlamesNobody: with a per-try timeout
// set, a client that stalls its streamed upload lets the timeout fire while
// the transport waits on the client's body, not on the node. That is the
// client's slowness: the call fails with 408, not retried, and neither the
// breaker nor the ejector counts it against the node (else slow uploads
// could eject every node of a service).
func TestStalledUploadPastThePerTryTimeoutBlamesNobody(t *testing.T) {
	b := newBackend(t, "a", nil)
	var attempts atomic.Int64
	// The gateway's transport, which gives up on a body's Read at the
	// attempt's end (net/http's waits for the Read to return).
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, b.node()), upstream.WithTransport(tr), countAttempts(&attempts),
		upstream.WithRetryPolicy(upstream.RetryPolicy{MaxRetries: 2, PerTryTimeout: 50 * time.Millisecond}))
	for range 10 {
		pr, pw := io.Pipe()
		go pw.Write([]byte("the start of a body that never ends"))
		req, err := http.NewRequest(http.MethodPut, "http://"+service+"/up", pr)
		if err != nil {
			t.Fatal(err)
		}
		before := attempts.Load()
		resp, err := c.Do(req)
		pw.Close()
		if err == nil {
			resp.Body.Close()
			t.Fatal("a stalled upload was answered")
		}
		if status, _, _ := rpc.StatusOf(err); status != http.StatusRequestTimeout {
			t.Fatalf("status %d (%v), want 408: the stall is the client's", status, err)
		}
		if n := attempts.Load() - before; n != 1 {
			t.Fatalf("%d attempts, want 1: a client's stall is not retried", n)
		}
	}
	assertNobodyBlamed(t, c)
}
