package upstream_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/upstream"
)

const clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// traceSeen records the traceparent and Sluice-Budget fields of the
// requests a backend reads.
type traceSeen struct {
	mu      sync.Mutex
	parents []string
	budgets []string
}

func (s *traceSeen) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parents = append(s.parents, r.Header.Get("traceparent"))
	s.budgets = append(s.budgets, r.Header.Get(budget.HeaderName))
}

func (s *traceSeen) get() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.parents...), append([]string(nil), s.budgets...)
}

func TestAttemptSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())

	var seen traceSeen
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		seen.record(r)
		w.WriteHeader(http.StatusBadGateway)
	})
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
		seen.record(r)
		_, _ = w.Write([]byte("ok"))
	})
	c := newClient(t, staticOf(t, bad.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithTracer(tracing.New(tp)))

	// The caller's own span, as the gateway's route span or a backend's
	// server span would be.
	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	ctx, cancel := budget.NewContext(ctx, budget.Info{Deadline: time.Now().Add(5 * time.Second), Received: 5 * time.Second, Hop: 1})
	defer cancel()
	r := get(t, ctx, "/x")
	r.Header.Set("traceparent", clientTraceparent) // copied from the client: must not go on
	r.Header.Set("X-Request-Id", "rid-1")
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "ok" {
		t.Fatalf("answer %q, want the retry's ok", body)
	}
	caller.End()

	var attempts []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			attempts = append(attempts, s)
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2 (a 502, then its retry)", len(attempts))
	}
	parents, budgets := seen.get()
	for i, s := range attempts {
		if s.Parent().SpanID() != caller.SpanContext().SpanID() {
			t.Errorf("attempt %d: parent %v, want the caller's span", i, s.Parent().SpanID())
		}
		want := "00-" + caller.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
		if parents[i] != want {
			t.Errorf("attempt %d: node saw traceparent %q, want the attempt span's %q", i, parents[i], want)
		}
		h, err := budget.Parse(budgets[i])
		if err != nil {
			t.Fatal(err)
		}
		a := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			a[kv.Key] = kv.Value
		}
		node, outcome := bad.node().Address, "failed"
		if i == 1 {
			node, outcome = good.node().Address, "success"
		}
		for k, want := range map[attribute.Key]any{
			tracing.AttrService: service, tracing.AttrNode: node, tracing.AttrAttempt: int64(i),
			tracing.AttrHop: int64(2), tracing.AttrRetries: int64(i), tracing.AttrOutcome: outcome,
			tracing.AttrBudgetGranted: 5000.0,
			tracing.AttrRequestID:     "rid-1",
		} {
			if got := a[k].AsInterface(); got != want {
				t.Errorf("attempt %d: %s = %v, want %v", i, k, got, want)
			}
		}
		// The header carries whole milliseconds of the same budget.
		if got := a[tracing.AttrBudgetRemaining].AsFloat64(); got < float64(h.Remaining.Milliseconds()) || got >= float64(h.Remaining.Milliseconds()+1) {
			t.Errorf("attempt %d: %s = %v, want the %v the node was sent", i, tracing.AttrBudgetRemaining, got, h.Remaining)
		}
	}
}

// With tracing off, the client's traceparent reaches the node as it came.
func TestTracingOffLeavesTraceparent(t *testing.T) {
	var seen traceSeen
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { seen.record(r) })
	c := newClient(t, staticOf(t, b.node()))
	r := get(t, context.Background(), "/x")
	r.Header.Set("traceparent", clientTraceparent)
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if parents, _ := seen.get(); len(parents) != 1 || parents[0] != clientTraceparent {
		t.Errorf("node saw traceparent %q, want %q untouched", parents, clientTraceparent)
	}
}

// A hedged call's two attempts are two spans, each the caller's child, the
// second marked a hedge; the hung one ends, abandoned, once cancelled.
func TestHedgedAttemptSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())
	hung, good := hungAndGood(t)
	c := newClient(t, staticOf(t, hung.node(), good.node()), upstream.WithStrategy(inOrder),
		upstream.WithEjector(nil), upstream.WithRetryPolicy(hedging(20*time.Millisecond)), upstream.WithTracer(tracing.New(tp)))
	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	resp, err := c.Do(get(t, ctx, "/"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "good" {
		t.Fatalf("answer %q, want the hedge's", body)
	}
	var attempts []sdktrace.ReadOnlySpan
	waitFor(t, func() bool {
		attempts = attempts[:0]
		for _, s := range sr.Ended() {
			if s.SpanKind() == trace.SpanKindClient {
				attempts = append(attempts, s)
			}
		}
		return len(attempts) == 2
	}, "both attempt spans to end")
	got := map[string]string{}
	for _, s := range attempts {
		if s.Parent().SpanID() != caller.SpanContext().SpanID() {
			t.Errorf("attempt span parent %v, want the caller's", s.Parent().SpanID())
		}
		a := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			a[kv.Key] = kv.Value
		}
		got[a[tracing.AttrNode].AsString()] = a[tracing.AttrOutcome].AsString()
		if hedge := a[tracing.AttrHedge].AsBool(); hedge != (a[tracing.AttrNode].AsString() == good.node().Address) {
			t.Errorf("span to %s: hedge %v", a[tracing.AttrNode].AsString(), hedge)
		}
	}
	if got[good.node().Address] != "success" || got[hung.node().Address] == "" {
		t.Errorf("outcomes by node %v: want the hedge a success and the hung attempt ended", got)
	}
}
