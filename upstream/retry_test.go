package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

func newRequest(t *testing.T, method, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body) // NewRequest sets GetBody for it
	}
	r, err := http.NewRequestWithContext(context.Background(), method, "http://"+service+"/things", rd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDoRetriesUnsentOnAnotherNode checks that a node refusing connections is
// skipped for every method, POST included: the request provably never left.
func TestDoRetriesUnsentOnAnotherNode(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		body     string
		strategy selector.Strategy
		dead     int // dead nodes before the good one
	}{
		{"GET", http.MethodGet, "", inOrder, 1},
		{"POST", http.MethodPost, `{"order":1}`, inOrder, 1},
		{"PATCH", http.MethodPatch, `{"order":1}`, inOrder, 1},
		{"PUT", http.MethodPut, `{"order":1}`, inOrder, 1},
		{"DELETE", http.MethodDelete, "", inOrder, 1},
		{"POST, two dead, round robin", http.MethodPost, `{"order":1}`, selector.RoundRobin, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := newBackend(t, "good", nil)
			var nodes []*registry.Node
			for i := range tt.dead {
				nodes = append(nodes, deadNode(t, "dead"+string(rune('a'+i))))
			}
			c := newClient(t, staticOf(t, append(nodes, good.node())...), upstream.WithStrategy(tt.strategy))
			resp, err := c.Do(newRequest(t, tt.method, tt.body))
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || body != "good" {
				t.Fatalf("answer %d %q", resp.StatusCode, body)
			}
			h := good.seen()
			if len(h) != 1 || h[0].Method != tt.method || h[0].Body != tt.body {
				t.Fatalf("good node saw %+v, want one %s with body %q", h, tt.method, tt.body)
			}
		})
	}
}

// TestDoUnsentWithoutGetBodyIsRetriedUnread checks that a body that cannot
// be replayed goes to another node as it is when the attempt provably sent
// nothing and read none of it (the node refused the connection): the
// gateway's streamed uploads, over 64 KiB, were never retried, and a node
// down failed every one that picked it. A body the attempt read is not
// sent again (TestDoSentFailure's, for a sent failure).
func TestDoUnsentWithoutGetBodyIsRetriedUnread(t *testing.T) {
	good := newBackend(t, "good", nil)
	dead := deadNode(t, "dead")
	c := newClient(t, staticOf(t, dead, good.node()), upstream.WithStrategy(inOrder))
	r := newRequest(t, http.MethodPost, "")
	var closes atomic.Int64
	r.Body = closeCounter{Reader: strings.NewReader("once"), closed: &closes}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if got := readAll(t, resp); resp.StatusCode != 200 || got != "good" {
		t.Fatalf("answer %d %q", resp.StatusCode, got)
	}
	if h := good.seen(); len(h) != 1 || h[0].Body != "once" {
		t.Fatalf("good node saw %+v, want one POST with body \"once\"", h)
	}
	if n := closes.Load(); n != 1 {
		t.Fatalf("body closed %d times, want once", n)
	}

	// With no node to take it, the call fails not-processed, and the body
	// held back is closed, once.
	c = newClient(t, staticOf(t, dead), upstream.WithStrategy(inOrder))
	closes.Store(0)
	r = newRequest(t, http.MethodPost, "")
	r.Body = closeCounter{Reader: strings.NewReader("once"), closed: &closes}
	_, err = c.Do(r)
	var ae *upstream.AttemptError
	if !errors.As(err, &ae) || ae.Sent || ae.Node != dead.Address {
		t.Fatalf("error %#v, want an unsent *AttemptError at %s", err, dead.Address)
	}
	if status, typ, _ := rpc.StatusOf(err); status != http.StatusBadGateway || typ != problem.TypeNotProcessed {
		t.Fatalf("StatusOf = %d %s, want 502 not-processed", status, typ)
	}
	if n := closes.Load(); n != 1 {
		t.Fatalf("body closed %d times, want once", n)
	}
}

// TestDoSentFailure checks a node that reads the request and drops the
// connection: the request may have been processed, so only idempotent
// methods go to another node, and the retry replays the same body.
func TestDoSentFailure(t *testing.T) {
	tests := []struct {
		method  string
		body    string
		retried bool
	}{
		{http.MethodGet, "", true},
		{http.MethodHead, "", true},
		{http.MethodOptions, "", true},
		{http.MethodPut, `{"v":1}`, true},
		{http.MethodDelete, "", true},
		{http.MethodPost, `{"v":1}`, false},
		{http.MethodPatch, `{"v":1}`, false},
		{http.MethodGet, `q=1`, true}, // a GET with a body is as idempotent as any GET
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			reset := newResetBackend(t, "reset")
			good := newBackend(t, "good", nil)
			c := newClient(t, staticOf(t, reset.node(), good.node()), upstream.WithStrategy(inOrder))
			resp, err := c.Do(newRequest(t, tt.method, tt.body))
			if hr := reset.seen(); len(hr) != 1 || hr[0].Body != tt.body {
				t.Fatalf("reset node saw %+v, want one request with body %q", hr, tt.body)
			}
			hg := good.seen()
			if !tt.retried {
				var ae *upstream.AttemptError
				if !errors.As(err, &ae) || !ae.Sent || ae.Node != reset.node().Address {
					t.Fatalf("error %v, want a sent *AttemptError at the reset node", err)
				}
				status, typ, _ := rpc.StatusOf(err)
				if status != http.StatusBadGateway || typ != problem.TypeMaybeDone {
					t.Fatalf("StatusOf = %d %s, want 502 %s", status, typ, problem.TypeMaybeDone)
				}
				if len(hg) != 0 {
					t.Fatalf("a %s that may have been processed was sent again", tt.method)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			readAll(t, resp)
			if len(hg) != 1 || hg[0].Body != tt.body {
				t.Fatalf("good node saw %+v, want the retry with body %q", hg, tt.body)
			}
		})
	}
}

// TestDoRetriesAreBounded checks that a call makes at most 1+maxRetries
// attempts, each on a node not tried yet while there is one.
func TestDoRetriesAreBounded(t *testing.T) {
	tests := []struct {
		name       string
		maxRetries int
		nodes      int
		attempts   int
	}{
		{"no retries", 0, 3, 1},
		{"one retry", 1, 3, 2},
		{"default", upstream.DefaultMaxRetries, 5, upstream.DefaultMaxRetries + 1},
		{"as many as the nodes", 2, 3, 3},
		{"more than the nodes", 4, 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var backends []*backend
			var nodes []*registry.Node
			for i := range tt.nodes {
				b := newResetBackend(t, string(rune('a'+i)))
				backends = append(backends, b)
				nodes = append(nodes, b.node())
			}
			opts := []upstream.Option{}
			if tt.name != "default" {
				opts = append(opts, upstream.WithMaxRetries(tt.maxRetries))
			}
			c := newClient(t, staticOf(t, nodes...), opts...)
			_, err := c.Do(newRequest(t, http.MethodGet, ""))
			var ae *upstream.AttemptError
			if !errors.As(err, &ae) || !ae.Sent {
				t.Fatalf("error %v, want a sent *AttemptError", err)
			}
			total, distinct := 0, 0
			for _, b := range backends {
				n := len(b.seen())
				total += n
				if n > 0 {
					distinct++
				}
			}
			if total != tt.attempts {
				t.Fatalf("%d attempts, want %d", total, tt.attempts)
			}
			if want := min(tt.attempts, tt.nodes); distinct != want {
				t.Fatalf("attempts reached %d distinct nodes, want %d", distinct, want)
			}
		})
	}
}

// TestTheLastRealAnswerIsKept has a node answer 503 and the retry find no
// answer of its own (its node refuses, or discovery has no node left): the
// caller gets the node's real answer, not a made-up 502.
func TestTheLastRealAnswerIsKept(t *testing.T) {
	for _, tc := range []string{"the retry's node refuses", "no node for the retry"} {
		t.Run(tc, func(t *testing.T) {
			busy := newBackend(t, "busy", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "busy, the real answer", http.StatusServiceUnavailable)
			})
			nodes := []*registry.Node{busy.node()}
			if tc == "the retry's node refuses" {
				nodes = append(nodes, deadNode(t, "dead"))
			}
			reg := staticOf(t, nodes...)
			opts := []upstream.Option{upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(1))}
			if tc == "no node for the retry" {
				// The only node leaves discovery while its answer comes back.
				opts = append(opts, upstream.WithAttemptWrapper(func(next http.RoundTripper) http.RoundTripper {
					return roundTripFunc(func(r *http.Request) (*http.Response, error) {
						resp, err := next.RoundTrip(r)
						reg.Set(service, nil)
						return resp, err
					})
				}))
			}
			c := newClient(t, reg, opts...)
			resp, err := c.Do(newRequest(t, http.MethodGet, ""))
			if err != nil {
				t.Fatalf("Do: %v, want the node's 503", err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "the real answer") ||
				resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("answer %d %q %v, want the node's own 503", resp.StatusCode, body, resp.Header)
			}
			if got := resp.Header.Get(upstream.RetryHeader); got != upstream.RetryNo {
				t.Fatalf("Sluice-Retry %q, want %q after this hop retried", got, upstream.RetryNo)
			}
		})
	}
}
