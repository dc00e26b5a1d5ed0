package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/tracing"
)

// incoming is a client's traceparent: trace 4bf9…, parent span 00f0…, sampled.
const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func newTracer(t *testing.T) (*tracing.Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing.New(tp), sr
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestNewNilIsOff(t *testing.T) {
	if tracing.New(nil) != nil {
		t.Fatal("New(nil) is not nil: a nil provider must mean tracing off")
	}
}

// statusRecorder is a response writer that knows its arrival and status, as
// the gateway's middleware.Recorder does.
type statusRecorder struct {
	*httptest.ResponseRecorder
	at time.Time
}

func (w statusRecorder) Arrival() time.Time { return w.at }
func (w statusRecorder) Status() int        { return w.Code }

func TestRouteSpanContinuesTheIncomingTrace(t *testing.T) {
	tr, sr := newTracer(t)
	arrival := time.Now().Add(-time.Second)
	var inner trace.SpanContext
	h := tr.Route("get-order", "orders", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		ctx, cancel := budget.NewContext(r.Context(), budget.Info{Deadline: time.Now().Add(2 * time.Second), Received: 2 * time.Second})
		defer cancel()
		tracing.Budget(ctx, budget.Info{Received: 2 * time.Second})
		w.WriteHeader(http.StatusBadGateway)
	}))
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	r.Header.Set("traceparent", incoming)
	r.Header.Set("X-Request-Id", "req-42")
	h.ServeHTTP(statusRecorder{httptest.NewRecorder(), arrival}, r)

	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "get-order" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want get-order, server", s.Name(), s.SpanKind())
	}
	if got := s.Parent().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("parent %v, want the incoming traceparent's span", s.Parent())
	}
	if !s.SpanContext().Equal(inner) {
		t.Error("the handler's context does not carry the route span")
	}
	if !s.StartTime().Equal(arrival) {
		t.Errorf("start %v, want the arrival %v", s.StartTime(), arrival)
	}
	a := attrs(s)
	for k, want := range map[attribute.Key]any{
		tracing.AttrRoute: "get-order", tracing.AttrService: "orders", tracing.AttrRequestID: "req-42",
		tracing.AttrHop: int64(0), tracing.AttrBudgetGranted: 2000.0, "http.response.status_code": int64(502),
	} {
		if got := a[k].AsInterface(); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if s.Status().Code != codes.Error {
		t.Errorf("status %v, want an error for a 502", s.Status())
	}
}

func TestAttemptSpanAndInject(t *testing.T) {
	tr, sr := newTracer(t)
	var sent http.Header
	h := tr.Route("get-order", "orders", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := budget.NewContext(r.Context(), budget.Info{Deadline: time.Now().Add(time.Second), Received: time.Second})
		defer cancel()
		ctx, span := tr.StartAttempt(ctx, tracing.Attempt{Service: "orders", Node: "10.0.0.1:80", Number: 1,
			Sent: budget.Header{Remaining: 750 * time.Millisecond, Hop: 1, Retries: 1}})
		sent = r.Header.Clone() // the client's fields, traceparent included
		tr.Inject(ctx, sent)
		span.SetRequestID(r.Header)
		span.End("failed", &http.Response{StatusCode: 503, Status: "503 Service Unavailable"}, nil)
	}))
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	r.Header.Set("traceparent", incoming)
	r.Header.Set("tracestate", "vendor=old")
	r.Header.Set("X-Request-Id", "req-43")
	h.ServeHTTP(httptest.NewRecorder(), r)

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	attempt, route := spans[0], spans[1]
	if attempt.Parent().SpanID() != route.SpanContext().SpanID() || attempt.SpanKind() != trace.SpanKindClient {
		t.Errorf("attempt span: parent %v kind %v, want the route span, client", attempt.Parent().SpanID(), attempt.SpanKind())
	}
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + attempt.SpanContext().SpanID().String() + "-01"
	if got := sent.Get("traceparent"); got != want {
		t.Errorf("traceparent sent %q, want the attempt span's %q", got, want)
	}
	if got := sent.Get("tracestate"); got != "vendor=old" {
		t.Errorf("tracestate %q sent, want the trace's state carried on (W3C trace context)", got)
	}
	a := attrs(attempt)
	for k, want := range map[attribute.Key]any{
		tracing.AttrRoute: "get-order", tracing.AttrService: "orders", tracing.AttrNode: "10.0.0.1:80",
		tracing.AttrAttempt: int64(1), tracing.AttrHop: int64(1), tracing.AttrRetries: int64(1),
		tracing.AttrBudgetGranted: 1000.0, tracing.AttrBudgetRemaining: 750.0, tracing.AttrOutcome: "failed",
		tracing.AttrRequestID: "req-43", "http.response.status_code": int64(503),
	} {
		if got := a[k].AsInterface(); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if attempt.Status().Code != codes.Error {
		t.Errorf("status %v, want an error for a failed attempt", attempt.Status())
	}
}

func TestInboundSpanReadsTheBudgetHeader(t *testing.T) {
	tr, sr := newTracer(t)
	var inner trace.SpanContext
	h := tr.Inbound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, tc := range []struct{ path, name string }{
		{"/rpc/Inventory.Check", "Inventory.Check"},
		{"/items/9", "POST"}, // a path is not a name
	} {
		r := httptest.NewRequest(http.MethodPost, tc.path, nil)
		r.Header.Set("traceparent", incoming)
		r.Header.Set(budget.HeaderName, "ms=1500, hop=2, retry=1")
		r.Header.Set("X-Request-Id", "req-44")
		h.ServeHTTP(httptest.NewRecorder(), r)
		spans := sr.Ended()
		s := spans[len(spans)-1]
		if s.Name() != tc.name || s.SpanKind() != trace.SpanKindServer {
			t.Errorf("%s: span %q kind %v, want %q, server", tc.path, s.Name(), s.SpanKind(), tc.name)
		}
		if s.Parent().SpanID().String() != "00f067aa0ba902b7" || !s.SpanContext().Equal(inner) {
			t.Errorf("%s: parent %v; the handler must run in the span, child of the caller's", tc.path, s.Parent())
		}
		a := attrs(s)
		for k, want := range map[attribute.Key]any{
			tracing.AttrHop: int64(2), tracing.AttrRetries: int64(1), tracing.AttrBudgetGranted: 1500.0,
			tracing.AttrRequestID: "req-44", "http.response.status_code": int64(418),
		} {
			if got := a[k].AsInterface(); got != want {
				t.Errorf("%s: %s = %v, want %v", tc.path, k, got, want)
			}
		}
	}
}

func TestNoSpanNoInject(t *testing.T) {
	tr, _ := newTracer(t)
	h := http.Header{"Traceparent": {incoming}}
	tr.Inject(context.Background(), h)
	if got := h.Get("traceparent"); got != incoming {
		t.Errorf("traceparent %q: a context without a span must leave it as it is", got)
	}
}
