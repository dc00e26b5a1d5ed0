package router_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/upstream"
)

const clientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func tracedRoute() router.Route {
	return router.Route{Name: "get-item", Method: http.MethodGet, Path: "/items/{id}", Service: "items",
		Budget: budget.Policy{Timeout: 3 * time.Second}}
}

func TestRouteSpanAndAttemptSpan(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())
	tr := tracing.New(tp)

	b := newBackend(t, nil)
	s := (&setup{opts: router.Options{Tracer: tr}, copts: []upstream.Option{upstream.WithTracer(tr)}}).node("items", b.addr())
	rt := s.build(t, tracedRoute())
	r := httptest.NewRequest(http.MethodGet, "/items/7", nil)
	r.Header.Set("traceparent", clientTraceparent)
	rec := statusWriter{httptest.NewRecorder()}
	if rt.ServeHTTP(rec, r); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := b.last(t)

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the route's and its attempt's", len(spans))
	}
	attempt, route := spans[0], spans[1]
	if route.Name() != "get-item" || route.SpanKind() != trace.SpanKindServer ||
		route.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("route span %q kind %v parent %v: want get-item, server, child of the client's traceparent",
			route.Name(), route.SpanKind(), route.Parent().SpanID())
	}
	if attempt.SpanKind() != trace.SpanKindClient || attempt.Parent().SpanID() != route.SpanContext().SpanID() {
		t.Errorf("attempt span kind %v parent %v: want client, child of the route span", attempt.SpanKind(), attempt.Parent().SpanID())
	}
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + attempt.SpanContext().SpanID().String() + "-01"
	if tp := got.Header.Get("traceparent"); tp != want {
		t.Errorf("the node saw traceparent %q, want the attempt span's %q", tp, want)
	}
	for _, tc := range []struct {
		span sdktrace.ReadOnlySpan
		key  attribute.Key
		want any
	}{
		{route, tracing.AttrRoute, "get-item"},
		{route, tracing.AttrBudgetGranted, 3000.0},
		{route, tracing.AttrHop, int64(0)},
		{route, "http.response.status_code", int64(200)},
		{attempt, tracing.AttrRoute, "get-item"},
		{attempt, tracing.AttrService, "items"},
		{attempt, tracing.AttrNode, b.addr()},
		{attempt, tracing.AttrHop, int64(1)},
		{attempt, tracing.AttrOutcome, "success"},
	} {
		var v any
		for _, kv := range tc.span.Attributes() {
			if kv.Key == tc.key {
				v = kv.Value.AsInterface()
			}
		}
		if v != tc.want {
			t.Errorf("%s span: %s = %v, want %v", tc.span.Name(), tc.key, v, tc.want)
		}
	}
}

// With tracing off the router starts no span, not even with a global
// provider installed, and the client's traceparent reaches the node as is.
func TestTracingOffStartsNoSpan(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)

	b := newBackend(t, nil)
	rt := (&setup{}).node("items", b.addr()).build(t, tracedRoute())
	r := httptest.NewRequest(http.MethodGet, "/items/7", nil)
	r.Header.Set("traceparent", clientTraceparent)
	if rec := serve(rt, r); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if tp := b.last(t).Header.Get("traceparent"); tp != clientTraceparent {
		t.Errorf("the node saw traceparent %q, want the client's %q untouched", tp, clientTraceparent)
	}
	if n := len(sr.Started()); n != 0 {
		t.Errorf("%d spans started with tracing off", n)
	}
}

// statusWriter knows the status it wrote, as the gateway's
// middleware.Recorder does; the route span reads it.
type statusWriter struct{ *httptest.ResponseRecorder }

func (w statusWriter) Status() int { return w.Code }
