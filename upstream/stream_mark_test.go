package upstream_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream"
)

// A call marked WithStream is not cut by a per-try timeout: an answer whose
// body takes 600 ms arrives whole under a per-try timeout of 150 ms, which
// cuts the same call unmarked.
func TestStreamsGetNoPerTryTimeout(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for range 6 {
			io.WriteString(w, "data: x\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond): // the backend's pace
			}
		}
	})
	c := newClient(t, staticOf(t, b.node()),
		upstream.WithRetryPolicy(upstream.RetryPolicy{MaxRetries: 2, PerTryTimeout: 150 * time.Millisecond}))
	for _, marked := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if marked {
			ctx = upstream.WithStream(ctx)
		}
		resp, err := c.Do(get(t, ctx, "/"))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if marked && (err != nil || len(body) != 6*len("data: x\n\n")) {
			t.Errorf("marked: %d bytes, %v; want the whole stream", len(body), err)
		}
		if !marked && err == nil {
			t.Errorf("unmarked: the per-try timeout did not cut the answer (%d bytes)", len(body))
		}
	}
}
