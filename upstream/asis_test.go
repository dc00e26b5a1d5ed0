package upstream_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// TestFirstAttemptSendsTheRequestItself: over the lean transport, the first
// attempt of a request without a body sends the caller's request itself,
// aimed at the node by the transport, not a copy (the answer's Request is
// the request sent); the request is left as it was, so that the caller may
// send it again; a retry, and a request with a body, get copies. (So does
// a request without a deadline, whose attempts run under the default
// timeout's context.)
func TestFirstAttemptSendsTheRequestItself(t *testing.T) {
	bad, good := newBackend(t, "bad", status(503)), newBackend(t, "good", nil)
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	for _, tc := range []struct {
		name   string
		nodes  []*backend
		body   string
		itself bool
	}{
		{"first attempt", []*backend{good}, "", true},
		{"a retry", []*backend{bad, good}, "", false},
		{"a body", []*backend{good}, "{}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []*registry.Node
			for _, b := range tc.nodes {
				nodes = append(nodes, b.node())
			}
			c := upstream.New(staticOf(t, nodes...), upstream.WithTransport(tr), upstream.WithStrategy(inOrder),
				upstream.WithRetryPolicy(fastRetries(2)))
			method := http.MethodGet
			if tc.body != "" {
				method = http.MethodPut
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // no deadline of Do's making
			defer cancel()
			r, err := http.NewRequestWithContext(ctx, method, "http://"+service+"/x", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body == "" {
				r.Body, r.GetBody, r.ContentLength = nil, nil, 0
			}
			for range 2 { // the caller may send it again
				resp, err := c.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				if body := readAll(t, resp); body != "good" {
					t.Fatalf("answer %q", body)
				}
				if itself := resp.Request == r; itself != tc.itself {
					t.Errorf("the request itself was sent: %v, want %v", itself, tc.itself)
				}
				if r.URL.Host != service || r.Host != service {
					t.Fatalf("the request was changed: URL %s, Host %s", r.URL, r.Host)
				}
			}
		})
	}
}
