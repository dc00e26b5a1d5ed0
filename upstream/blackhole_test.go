package upstream_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// A node whose minimum budget is above what the calls have (a rolling
// deploy that raised it on one node, say) answers each at once with 504
// budget-too-low, having done no work. Taken for the caller's answer, as
// nobody's fault, that made the node a black hole: the fastest to answer,
// least-loaded selection sent it most calls, and 62 % of 2,000 calls
// failed with three nodes (a helper's probe). Now the call goes to another
// node, for any method, and the node is avoided by selection (but neither
// ejected nor held against the service's breaker).
func TestANodeThatRefusesTheBudgetIsNoBlackHole(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }
	strict := budget.Inbound(budget.ServerPolicy{Min: time.Second})(http.HandlerFunc(ok)).ServeHTTP
	bad, good1, good2 := newBackend(t, "bad", strict), newBackend(t, "good1", ok), newBackend(t, "good2", ok)
	c := newClient(t, staticOf(t, bad.node(), good1.node(), good2.node()))
	const calls = 300
	failed := 0
	for range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+service+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil || readAll(t, resp) != "ok" {
			failed++
		}
		cancel()
	}
	refused := len(bad.seen())
	t.Logf("%d of %d calls failed; the refusing node was asked %d times", failed, calls, refused)
	if failed > 0 || refused > calls/3 {
		t.Errorf("%d of %d calls failed, and the refusing node was asked %d times: want none failed, and it asked no more than its share", failed, calls, refused)
	}
	assertNobodyBlamed(t, c)
}

// A node that answers 429 at once (its own rate limit) is avoided by
// selection, as a failing node is, though a 429 is a business answer that
// neither ejection nor the breaker count: least-loaded selection took its
// quick answers for a light load and sent it most calls.
func TestANodeThatAnswers429IsAvoided(t *testing.T) {
	limited := newBackend(t, "limited", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	good1, good2 := newBackend(t, "good1", nil), newBackend(t, "good2", nil)
	c := newClient(t, staticOf(t, limited.node(), good1.node(), good2.node()))
	const calls = 300
	for range calls {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	if n := len(limited.seen()); n > calls/10 {
		t.Errorf("the node answering 429 was asked %d times of %d", n, calls)
	}
	assertNobodyBlamed(t, c)
}
