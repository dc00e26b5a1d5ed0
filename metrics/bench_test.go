package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// BenchmarkAttemptObserved is what the observer costs an attempt: its
// start (the budget sent) and its end (outcome and latency).
func BenchmarkAttemptObserved(b *testing.B) {
	u := metrics.NewUpstream(prometheus.NewRegistry())
	ctx := context.Background()
	node := &registry.Node{Service: "greeter", Address: "127.0.0.1:9101"}
	h := budget.Header{Remaining: 2 * time.Second, Hop: 1}
	b.ReportAllocs()
	for b.Loop() {
		u.AttemptStart(ctx, "greeter", node, h)
		u.AttemptEnd(ctx, "greeter", node, upstream.FirstAttempt, upstream.Success, time.Millisecond)
	}
}
