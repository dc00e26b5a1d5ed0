package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, http.StatusText(code), code) }
}

// fastRetries is the default policy with no back-off, no retry budget and
// no per-try timeout, so that a test's retries depend only on what it checks.
func fastRetries(max int) upstream.RetryPolicy {
	p := upstream.DefaultRetryPolicy()
	p.MaxRetries, p.BackoffBase, p.BudgetRatio = max, 0, -1
	p.PerTryTimeout = -1 // nor a timeout that a loaded machine could trip
	return p
}

func TestGatewayClassFailuresOfIdempotentRequestsGoElsewhere(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		header    string
		ctx       func(context.Context) context.Context
		status    int
		wantRetry bool
	}{
		{"GET 503", "GET", "", nil, 503, true},
		{"GET 502", "GET", "", nil, 502, true},
		{"GET 504", "GET", "", nil, 504, true},
		{"GET 500 is the application's", "GET", "", nil, 500, false},
		{"GET 404 is business", "GET", "", nil, 404, false},
		{"POST 503", "POST", "", nil, 503, false},
		{"POST 503 marked idempotent", "POST", "", upstream.WithIdempotent, 503, true},
		{"POST 503 with an Idempotency-Key", "POST", "Idempotency-Key", nil, 503, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := newBackend(t, "bad", status(tt.status))
			good := newBackend(t, "good", nil)
			c := newClient(t, staticOf(t, bad.node(), good.node()),
				upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(2)))
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			r, _ := http.NewRequestWithContext(ctx, tt.method, "http://"+service+"/x", strings.NewReader("{}"))
			if tt.header != "" {
				r.Header.Set(tt.header, "k1")
			}
			resp, err := c.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if tt.wantRetry {
				if resp.StatusCode != 200 || body != "good" || len(good.seen()) != 1 {
					t.Fatalf("answer %d %q, want the retry on the good node", resp.StatusCode, body)
				}
				if got := good.seen()[0].Body; got != "{}" {
					t.Fatalf("the retry carried body %q", got)
				}
				return
			}
			if resp.StatusCode != tt.status || len(good.seen()) != 0 {
				t.Fatalf("answer %d, good node hit %d times; want %d and no retry", resp.StatusCode, len(good.seen()), tt.status)
			}
		})
	}
}

func TestDoNotRetryMeansNoRetry(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(upstream.RetryHeader, upstream.RetryNo)
		http.Error(w, "overloaded", 503)
	})
	good := newBackend(t, "good", nil)
	c := newClient(t, staticOf(t, bad.node(), good.node()), upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(2)))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 503 || resp.Header.Get(upstream.RetryHeader) != upstream.RetryNo || len(good.seen()) != 0 {
		t.Fatalf("answer %d %q, good hits %d: an overloaded answer was retried or lost its advice",
			resp.StatusCode, resp.Header.Get(upstream.RetryHeader), len(good.seen()))
	}
}

func TestExhaustedRetriesTellTheCallerNotToRetry(t *testing.T) {
	a, b := newBackend(t, "a", status(503)), newBackend(t, "b", status(503))
	c := newClient(t, staticOf(t, a.node(), b.node()), upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(1)))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 503 || resp.Header.Get(upstream.RetryHeader) != upstream.RetryNo {
		t.Fatalf("after its retries: %d %q, want 503 marked no", resp.StatusCode, resp.Header.Get(upstream.RetryHeader))
	}
	// A handler failing with a Call error that was told "no" passes it on.
	err = c.Call(upstream.WithIdempotent(context.Background()), service, "A.B", struct{}{}, nil)
	var rerr *rpc.Error
	if !errors.As(err, &rerr) || rerr.Retry != "no" {
		t.Fatalf("Call error %v, want an rpc.Error carrying Retry no", err)
	}
	w := httptest.NewRecorder()
	rpc.WriteError(w, err)
	if w.Header().Get(upstream.RetryHeader) != upstream.RetryNo {
		t.Fatalf("WriteError did not pass the advice on: %v", w.Header())
	}
}

func TestOneLayerRetries(t *testing.T) {
	reset := newResetBackend(t, "reset")
	good := newBackend(t, "good", nil)
	c := newClient(t, staticOf(t, reset.node(), good.node()), upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(2)))
	// This hop serves a request that a hop above has already retried.
	ctx, cancel := budget.NewContext(context.Background(), budget.Info{Deadline: time.Now().Add(time.Minute), Hop: 1, Retries: 1})
	defer cancel()
	_, err := c.Do(get(t, ctx, "/"))
	var ae *upstream.AttemptError
	if !errors.As(err, &ae) || len(good.seen()) != 0 {
		t.Fatalf("Do = %v with %d retries; want no retry on a path already retried above", err, len(good.seen()))
	}
	// Requests that never left are still retried: they load nobody.
	dead := deadNode(t, "dead")
	c = newClient(t, staticOf(t, dead, good.node()), upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(fastRetries(2)))
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "good" {
		t.Fatalf("answer %q, want a not-sent failure retried", body)
	}
}

func TestRetryBudgetStopsRetriesUnderBroadFailure(t *testing.T) {
	a, b := newBackend(t, "a", status(503)), newBackend(t, "b", status(503))
	p := fastRetries(3)
	p.BudgetRatio, p.BudgetFloor = 0.1, 0
	c := newClient(t, staticOf(t, a.node(), b.node()), upstream.WithRetryPolicy(p), upstream.WithEjector(nil),
		upstream.WithBreakers(nil))
	const calls = 200
	for i := 0; i < calls; i++ {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	attempts := len(a.seen()) + len(b.seen())
	// Each call earns 0.1 retry: at most 10% more attempts than calls.
	if attempts > calls+calls/10 {
		t.Fatalf("%d attempts for %d calls: the retry budget did not hold", attempts, calls)
	}
	t.Logf("%d attempts for %d calls (%.2fx)", attempts, calls, float64(attempts)/calls)
}

func TestBreakerOpensOnADeadServiceAndSendsNothing(t *testing.T) {
	a, b := newBackend(t, "a", status(503)), newBackend(t, "b", status(503))
	// Each call tries both nodes: faults on every node of the service.
	c := newClient(t, staticOf(t, a.node(), b.node()), upstream.WithRetryPolicy(fastRetries(1)),
		upstream.WithBreakers(upstream.NewBreakers(upstream.BreakerSettings{MinCalls: 5, OpenFor: time.Hour})),
		upstream.WithEjector(nil))
	for i := 0; i < 5; i++ {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	before := len(a.seen()) + len(b.seen())
	for i := 0; i < 20; i++ {
		_, err := c.Do(get(t, context.Background(), "/"))
		var open *upstream.CircuitOpenError
		if !errors.As(err, &open) {
			t.Fatalf("call %d with the breaker open: %v", i, err)
		}
		if code, typ, _ := rpc.StatusOf(err); code != 503 || typ != "urn:sluice:problem:circuit-open" {
			t.Fatalf("open breaker answered %d %s", code, typ)
		}
	}
	if after := len(a.seen()) + len(b.seen()); after != before {
		t.Fatalf("%d attempts reached the nodes while the breaker was open", after-before)
	}
	if st := c.Breakers().States(); len(st) != 1 || st[0].State != "open" {
		t.Fatalf("breaker states %+v", st)
	}
}

func TestFailingNodeIsEjectedWithoutClientErrors(t *testing.T) {
	bad := newBackend(t, "bad", status(503))
	g1, g2 := newBackend(t, "g1", nil), newBackend(t, "g2", nil)
	c := newClient(t, staticOf(t, bad.node(), g1.node(), g2.node()),
		upstream.WithStrategy(selector.RoundRobin), upstream.WithRetryPolicy(fastRetries(2)),
		upstream.WithBreakers(nil))
	for i := 0; i < 300; i++ {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("call %d: %d %q: a client saw the failing node", i, resp.StatusCode, body)
		}
	}
	if n := len(bad.seen()); n != 5 {
		t.Fatalf("the failing node got %d requests, want exactly 5: ejected after 5 consecutive faults", n)
	}
	if ej := c.Ejector().Ejections(); len(ej) != 1 || !strings.Contains(ej[0].Node, "bad") {
		t.Fatalf("ejections %+v", ej)
	}
}

func TestPerTryTimeoutMovesASlowNodesRequestElsewhere(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := newBackend(t, "fast", nil)
	p := fastRetries(1)
	p.PerTryTimeout = 100 * time.Millisecond
	c := newClient(t, staticOf(t, slow.node(), fast.node()), upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(p))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "fast" {
		t.Fatalf("answer %q, want the fast node's", body)
	}
	h, err := budget.Parse(slow.seen()[0].Budget)
	if err != nil || h.Remaining > 100*time.Millisecond {
		t.Fatalf("the slow attempt was sent budget %v (%v), want at most its 100ms share", h.Remaining, err)
	}
}

func TestNoRetryWithoutBudgetForIt(t *testing.T) {
	a, b := newBackend(t, "a", status(503)), newBackend(t, "b", nil)
	p := fastRetries(2)
	p.MinAttempt = time.Hour // no retry could ever have enough budget
	c := newClient(t, staticOf(t, a.node(), b.node()), upstream.WithStrategy(inOrder), upstream.WithRetryPolicy(p))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 503 || len(b.seen()) != 0 {
		t.Fatalf("answer %d, %d retries: a retry started without budget for it", resp.StatusCode, len(b.seen()))
	}
}
