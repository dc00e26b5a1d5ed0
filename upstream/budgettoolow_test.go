package upstream_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/upstream"
)

// cutProblem504 answers 504 with a problem body (framed by a Content-Length
// of 300, or chunked), writes start of it, and drops the connection.
func cutProblem504(chunked bool, start string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		if !chunked {
			w.Header().Set("Content-Length", "300")
		}
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = io.WriteString(w, start)
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
}

// A 504 problem's start is read ahead, to tell a node's budget-too-low
// refusal (nobody's fault) from its failure. A body cut within that start
// must still fail its reader where it was cut, as any cut answer's does:
// read as whole, the gateway gave its client a cut answer as a complete
// one (chunked, its end was written).
func TestACut504ProblemBodyFailsItsReader(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		name := map[bool]string{false: "content-length", true: "chunked"}[chunked]
		t.Run(name, func(t *testing.T) {
			b := newBackend(t, "a", cutProblem504(chunked, `{"type":"urn:x:overloaded","title":"Ov`))
			c := newClient(t, staticOf(t, b.node()))
			// A POST: not retried, the node's answer is the call's.
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+service+"/", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("call: %v, want the node's 504", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusGatewayTimeout || err == nil {
				t.Fatalf("%d, %q, read error %v: a body cut after %d bytes read as whole", resp.StatusCode, body, err, len(body))
			}
			if string(body) != `{"type":"urn:x:overloaded","title":"Ov` {
				t.Fatalf("body %q, want the bytes the node sent before the cut", body)
			}
		})
	}
}

// A budget-too-low problem cut short is a broken answer, not a refusal: the
// node is at fault (Failed), and an idempotent call tries another node, as
// after any 504 that is not budget-too-low. A whole one is the refusal,
// which no other node is asked (TestBudgetBelowANodesMinimumBlamesNobody).
func TestACutBudgetTooLowIsTheNodesFailure(t *testing.T) {
	start := `{"type":"urn:sluice:problem:budget-too-low","title":"Budget too low"` // no end
	a := newBackend(t, "a", cutProblem504(true, start))
	b := newBackend(t, "b", nil)
	var attempts atomic.Int64
	c := newClient(t, staticOf(t, a.node(), b.node()), countAttempts(&attempts), upstream.WithStrategy(inOrder))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if body := readAll(t, resp); body != "b" || attempts.Load() != 2 {
		t.Fatalf("answered %d %q after %d attempts, want b's answer after a's cut one", resp.StatusCode, body, attempts.Load())
	}
}
