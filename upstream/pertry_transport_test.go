package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// The lean transport cuts an attempt at its per-try timeout itself
// (h1.Transport.RoundTripBy), where any other transport gets a context with
// that deadline. The tests below run each case over both and hold them to
// the same outcome, error and answer.

// perTryTransports are the two ways a per-try timeout is enforced.
var perTryTransports = []struct {
	name string
	new  func(t *testing.T) http.RoundTripper
}{
	{"context (http.Transport)", func(t *testing.T) http.RoundTripper {
		tr := upstream.NewTransport()
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}},
	{"deadline (lean transport)", func(t *testing.T) http.RoundTripper {
		tr := upstream.NewLeanTransport(upstream.TransportOptions{})
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}},
}

// hangUntil returns a handler that writes the answer's header and flushes
// it when header is true, then waits for release or the request's end.
func hangUntil(release <-chan struct{}, header bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if header {
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "part")
			http.NewResponseController(w).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}

// TestPerTryTimeoutSameOverEitherTransport: an attempt that outlives its
// per-try timeout fails as "failed" (the node's fault), with an error that
// wraps context.DeadlineExceeded and maps to the same status, and its retry
// goes elsewhere, each attempt sent its per-try share of the budget, over
// either transport.
func TestPerTryTimeoutSameOverEitherTransport(t *testing.T) {
	type result struct {
		ends   string
		status int
		err    bool
	}
	var results []result
	for _, tr := range perTryTransports {
		t.Run(tr.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			slow := newBackend(t, "slow", hangUntil(release, false))
			fast := newBackend(t, "fast", nil)
			p := fastRetries(1)
			p.PerTryTimeout = 300 * time.Millisecond
			obs := &recorder{}
			c := upstream.New(staticOf(t, slow.node(), fast.node()), upstream.WithTransport(tr.new(t)),
				upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(p), upstream.WithObserver(obs),
				upstream.WithEjector(nil))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			resp, err := c.Do(get(t, ctx, "/"))
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); body != "fast" {
				t.Fatalf("answer %q, want the fast node's", body)
			}
			for _, b := range []*backend{slow, fast} {
				h, err := budget.Parse(b.seen()[0].Budget)
				if err != nil || h.Remaining > 300*time.Millisecond {
					t.Errorf("the attempt to %s was sent budget %v (%v), want at most its 300ms share", b.name, h.Remaining, err)
				}
			}
			obs.mu.Lock()
			results = append(results, result{ends: fmtEnds(obs.ends)})
			obs.mu.Unlock()
			if want := "slow first failed, fast retry success"; results[len(results)-1].ends != want {
				t.Errorf("attempts observed %q, want %q", results[len(results)-1].ends, want)
			}

			// With no node to retry on, the timeout is the call's error.
			c = upstream.New(staticOf(t, slow.node()), upstream.WithTransport(tr.new(t)),
				upstream.WithRetryPolicy(p), upstream.WithEjector(nil))
			_, err = c.Do(get(t, ctx, "/"))
			var ae *upstream.AttemptError
			if !errors.As(err, &ae) || !ae.Sent || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want a sent *AttemptError wrapping context.DeadlineExceeded", err)
			}
			status, _, _ := rpc.StatusOf(err)
			results[len(results)-1].status = status
		})
	}
	if len(results) == 2 && results[0] != results[1] {
		t.Errorf("the transports differ: %+v against %+v", results[0], results[1])
	}
}

// TestPerTryTimeoutCutsTheBodyOverEitherTransport: a per-try timeout
// bounds the whole attempt, its answer's body included, over either
// transport.
func TestPerTryTimeoutCutsTheBodyOverEitherTransport(t *testing.T) {
	for _, tr := range perTryTransports {
		t.Run(tr.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			node := newBackend(t, "stalls", hangUntil(release, true))
			p := fastRetries(0)
			p.PerTryTimeout = time.Second // for the header to come first on a loaded machine
			c := upstream.New(staticOf(t, node.node()), upstream.WithTransport(tr.new(t)), upstream.WithRetryPolicy(p))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			resp, err := c.Do(get(t, ctx, "/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if string(b) != "part" || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("body %q, %v; want the part sent, then an error wrapping context.DeadlineExceeded", b, err)
			}
		})
	}
}

// TestPerTryTimeoutLeavesTheConnectionClean: an attempt that ended well
// within its per-try timeout leaves no deadline behind on its connection,
// which the next call reuses after that timeout would have passed.
func TestPerTryTimeoutLeavesTheConnectionClean(t *testing.T) {
	for _, tr := range perTryTransports {
		t.Run(tr.name, func(t *testing.T) {
			var mu sync.Mutex
			var peers []string
			node := newBackend(t, "n", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				peers = append(peers, r.RemoteAddr)
				mu.Unlock()
				_, _ = io.WriteString(w, "n")
			})
			transport := tr.new(t)
			p := fastRetries(0)
			p.PerTryTimeout = 200 * time.Millisecond
			c := upstream.New(staticOf(t, node.node()), upstream.WithTransport(transport), upstream.WithRetryPolicy(p))
			resp, err := c.Do(get(t, context.Background(), "/"))
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			time.Sleep(2 * p.PerTryTimeout) // past the first attempt's deadline
			p.PerTryTimeout = -1
			c = upstream.New(staticOf(t, node.node()), upstream.WithTransport(transport), upstream.WithRetryPolicy(p))
			resp, err = c.Do(get(t, context.Background(), "/"))
			if err != nil {
				t.Fatalf("the next call on the connection: %v", err)
			}
			if body := readAll(t, resp); body != "n" {
				t.Fatalf("answer %q", body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(peers) != 2 || peers[0] != peers[1] {
				t.Errorf("the calls came from %q, want one connection for both", peers)
			}
		})
	}
}

// fmtEnds joins observed attempt ends.
func fmtEnds(ends []string) string {
	out := ""
	for i, e := range ends {
		if i > 0 {
			out += ", "
		}
		out += e
	}
	return out
}
