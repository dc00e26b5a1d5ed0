package upstream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
	"github.com/sluicehq/sluice/upstream/h1"
)

// The companion client's defaults are written once, in the code; the docs
// that state them (docs/rpc.md's "Options and defaults", the retries, and
// docs/architecture.md's attempt loop) are checked against it here.

// docFigures returns, for each match of re in doc, its first group.
func docFigures(t *testing.T, doc, re string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(doc, -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Errorf("the docs no longer say %s: fix the doc or this test", re)
	}
	return out
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	// Prose wraps: compare with runs of white space as one space.
	return strings.Join(strings.Fields(string(b)), " ")
}

func TestDocsStateTheClientDefaults(t *testing.T) {
	rpcDoc, arch, budgetDoc := readDoc(t, "rpc.md"), readDoc(t, "architecture.md"), readDoc(t, "budget.md")
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	s := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
	checks := []struct {
		doc, re, code string
	}{
		{rpcDoc, "`WithMaxRetries` \\((\\d+) retries", strconv.Itoa(upstream.DefaultMaxRetries)},
		{rpcDoc, "`WithMaxAnswerBytes` \\((\\d+) MiB", strconv.Itoa(upstream.DefaultMaxAnswerBytes >> 20)},
		{rpcDoc, "one JSON value followed only by white space, of at most (\\d+) MiB", strconv.Itoa(upstream.DefaultMaxAnswerBytes >> 20)},
		{rpcDoc, "retries, so at most (\\d+) attempts", strconv.Itoa(upstream.DefaultMaxRetries + 1)},
		{rpcDoc, "retries stop at `WithMaxRetries` \\((\\d+)\\)", strconv.Itoa(upstream.DefaultMaxRetries)},
		{rpcDoc, "`WithMargin` \\((\\d+) ms", ms(upstream.DefaultMargin)},
		{rpcDoc, "`WithDefaultTimeout` \\((\\d+) s", s(upstream.DefaultTimeout)},
		{rpcDoc, "absent or malformed\\*\\*: use a default budget \\((\\d+) s in `budget.Inbound`", s(budget.DefaultServerTimeout)},
		{rpcDoc, "`WithStrategy` \\(`selector\\.(\\w+)` over the client's `Loads`", "LeastLoaded"},
		{rpcDoc, "`WithTransport` \\(`upstream\\.(\\w+)\\(upstream.TransportOptions\\{\\}\\)`", "NewLeanTransport"},
		{rpcDoc, "By default a client sends its attempts through an `(h1\\.\\w+)`", "h1.Transport"},
		{arch, "the margin \\((\\d+) ms\\)", ms(upstream.DefaultMargin)},
		{arch, "`Strategy` \\(`selector\\.(\\w+)` by default", "LeastLoaded"},
		{arch, "full-jitter back-off \\((\\d+) ms base", ms(upstream.DefaultBackoffBase)},
		{arch, "ms base, (\\d+) ms cap\\)", ms(upstream.DefaultBackoffCap)},
		{arch, "within `max_retries` \\((\\d+)\\)", strconv.Itoa(upstream.DefaultMaxRetries)},
		{arch, "retry budget \\((\\d+) % of its requests", strconv.Itoa(int(upstream.DefaultRetryRatio * 100))},
		{arch, "of its requests plus (\\d+) per second", strconv.Itoa(upstream.DefaultRetryFloor)},
		{arch, "absent or malformed: the server's default, (\\d+) s", s(budget.DefaultServerTimeout)},
		{budgetDoc, "\\| (\\d+) ms \\(`budget.DefaultShedLag`\\)", ms(budget.DefaultShedLag)},
	}
	for _, c := range checks {
		for _, got := range docFigures(t, c.doc, c.re) {
			if got != c.code {
				t.Errorf("the docs say %q where %s; the code's is %q", got, c.re, c.code)
			}
		}
	}
	// The names above are what the code does, not only what it is called:
	if _, ok := defaultTransport(t).(*h1.Transport); !ok {
		t.Errorf("the default transport is %T, not the h1.Transport the docs name", defaultTransport(t))
	}
	checkLeastLoaded(t)
}

// defaultTransport returns the transport a Client made without options
// sends its attempts through: what the innermost attempt wrapper wraps.
func defaultTransport(t *testing.T) http.RoundTripper {
	t.Helper()
	var inner http.RoundTripper
	reg, err := registry.NewStatic()
	if err != nil {
		t.Fatal(err)
	}
	upstream.New(reg, upstream.WithAttemptWrapper(func(rt http.RoundTripper) http.RoundTripper {
		inner = rt
		return rt
	}))
	return inner
}

// checkLeastLoaded shows that a Client's default strategy picks by load:
// with two nodes, one of them busy, every call goes to the other (round
// robin or random would send it about half).
func checkLeastLoaded(t *testing.T) {
	t.Helper()
	var hits [2]atomic.Int64
	var nodes []*registry.Node
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits[i].Add(1)
		}))
		defer srv.Close()
		nodes = append(nodes, &registry.Node{ID: fmt.Sprint("n", i), Service: "svc", Address: srv.Listener.Addr().String()})
	}
	reg, err := registry.NewStatic(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	loads := selector.NewLoads()
	client := upstream.New(reg, upstream.WithLoads(loads)) // WithLoads only shares the counts
	for range 5 {
		defer loads.Start(nodes[0])() // busy with 5 requests
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 20 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if hits[0].Load() != 0 || hits[1].Load() != 20 {
		t.Errorf("the busy node got %d calls, the idle one %d: the default strategy does not pick the least loaded",
			hits[0].Load(), hits[1].Load())
	}
}
