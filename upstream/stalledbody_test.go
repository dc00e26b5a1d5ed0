package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream"
	"github.com/sluicehq/sluice/upstream/h1"
)

// Once the client derives a per-try timeout (after 20 answers), it bounds
// an answer's body only where the node stalls: a read that waits for the
// node gets no longer than the timeout, and its failure is the node's
// (h1.ErrBodyStalled, which classifyBody takes for Failed). A body
// the node stalled was cut by the whole per-try deadline, blamed on
// nobody, and a slow reader's large answer was cut alike
// (TestASlowDownloadOutlivesThePerTryTimeout, cmd/gateway).
func TestAStalledBodyIsTheNodesFailure(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	node := newBackend(t, "n", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stall" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		hangUntil(release, true)(w, r)
	})
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, node.node()), upstream.WithTransport(tr))
	for range 25 { // for the per-try timeout to be derived
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/stall"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if string(b) != "part" || !errors.Is(err, h1.ErrBodyStalled) || ctx.Err() != nil {
		t.Fatalf("body %q, %v after %v: want the part, then the node's stall, well within the budget", b, err, took)
	}
	t.Logf("cut after %v", took)
}
