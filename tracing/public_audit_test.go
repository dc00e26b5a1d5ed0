package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluicehq/sluice/tracing"
)

// The client's trace in these tests: trace 4bf9…, span 00f0….
const (
	clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan  = "00f067aa0ba902b7"
)

// newPublicTracer returns a PublicEndpoint tracer over a provider that
// samples as the gateway's does (tracing/otlp.NewProvider: parent-based,
// new traces at ratio), and the recorder of its sampled spans.
func newPublicTracer(t *testing.T, ratio float64) (*tracing.Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing.New(tp, tracing.PublicEndpoint()), sr
}

// forward is a route's handler as the gateway's is: one attempt, whose
// traceparent and tracestate it returns as the backend would get them, on
// a copy of the request's header (upstream.Client sends the route's
// fields, then Injects the attempt's context).
func forward(tr *tracing.Tracer, sent *http.Header, seen *http.Header) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = r.Header.Clone()
		ctx, span := tr.StartAttempt(r.Context(), tracing.Attempt{Service: "orders", Node: "10.0.0.1:80"})
		h := r.Header.Clone()
		tr.Inject(ctx, h)
		*sent = h
		span.End("success", &http.Response{StatusCode: 200}, nil)
	})
}

func clientRequest(traceparent string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	r.Header.Set("traceparent", traceparent)
	r.Header.Set("tracestate", "vendor=client")
	return r
}

// A client that opts out (flags 00) of a gateway that samples every
// request is traced anyway, in a new trace of the gateway's that links
// the client's; the backend gets the gateway's trace, without the
// client's tracestate, and the route's handler sees no client context.
func TestPublicEndpointTracesAClientThatOptsOut(t *testing.T) {
	tr, sr := newPublicTracer(t, 1)
	var sent, seen http.Header
	r := clientRequest("00-" + clientTrace + "-" + clientSpan + "-00")
	tr.Route("get-order", "orders", forward(tr, &sent, &seen)).ServeHTTP(httptest.NewRecorder(), r)

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans recorded, want the route's and the attempt's: the client's flags 00 must not opt it out", len(spans))
	}
	route := spans[1]
	if route.Name() != "get-order" || route.Parent().IsValid() {
		t.Errorf("route span %q has parent %v, want get-order, the root of a trace", route.Name(), route.Parent())
	}
	gw := route.SpanContext().TraceID().String()
	if gw == clientTrace {
		t.Errorf("the route span is in the client's trace %s", gw)
	}
	links := route.Links()
	if len(links) != 1 || links[0].SpanContext.TraceID().String() != clientTrace ||
		links[0].SpanContext.SpanID().String() != clientSpan || links[0].SpanContext.TraceState().Len() != 0 {
		t.Errorf("links %+v, want one to the client's span %s of %s, without its tracestate", links, clientSpan, clientTrace)
	}
	want := "00-" + gw + "-" + spans[0].SpanContext().SpanID().String() + "-01"
	if got := sent.Get("traceparent"); got != want {
		t.Errorf("the backend got traceparent %q, want the gateway's attempt %q", got, want)
	}
	if got := sent.Values("tracestate"); len(got) != 0 {
		t.Errorf("the backend got tracestate %q, the client's", got)
	}
	if len(seen["Traceparent"]) != 0 || len(seen["Tracestate"]) != 0 {
		t.Errorf("the route's handler saw the client's trace context: %v", seen)
	}
	if r.Header.Get("traceparent") == "" || r.Header.Get("tracestate") != "vendor=client" {
		t.Errorf("the caller's request lost its fields (an access log reads them): %v", r.Header)
	}
}

// A client that says sampled cannot make a gateway that samples nothing
// (ratio 0) record its request, nor choose the trace the backend joins.
func TestPublicEndpointIgnoresTheClientsSampledFlag(t *testing.T) {
	tr, sr := newPublicTracer(t, 0)
	var sent, seen http.Header
	r := clientRequest("00-" + clientTrace + "-" + clientSpan + "-01")
	tr.Route("get-order", "orders", forward(tr, &sent, &seen)).ServeHTTP(httptest.NewRecorder(), r)

	if n := len(sr.Started()); n != 0 {
		t.Errorf("%d spans recorded at sample ratio 0: the client's sampled flag decided", n)
	}
	got := sent.Get("traceparent")
	if len(got) != 55 || got[3:35] == clientTrace || got[53:] != "00" {
		t.Errorf("the backend got traceparent %q, want a trace of the gateway's, not sampled", got)
	}
}

// Without PublicEndpoint (client_context: continue, and backends) the
// client's trace goes on: the route span is its child.
func TestRouteContinuesWithoutPublicEndpoint(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(1))))
	defer tp.Shutdown(context.Background())
	tr := tracing.New(tp)
	var sent, seen http.Header
	r := clientRequest("00-" + clientTrace + "-" + clientSpan + "-00")
	tr.Route("get-order", "orders", forward(tr, &sent, &seen)).ServeHTTP(httptest.NewRecorder(), r)
	if n := len(sr.Started()); n != 0 {
		t.Errorf("%d spans recorded: a continued trace follows the client's flags 00", n)
	}
	if got := sent.Get("traceparent"); len(got) != 55 || got[3:35] != clientTrace {
		t.Errorf("the backend got traceparent %q, want the client's trace continued", got)
	}
}

// A backend that public clients reach may use PublicEndpoint too.
func TestInboundPublicEndpointLinks(t *testing.T) {
	tr, sr := newPublicTracer(t, 1)
	var seen http.Header
	h := tr.Inbound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header }))
	h.ServeHTTP(httptest.NewRecorder(), clientRequest("00-"+clientTrace+"-"+clientSpan+"-00"))
	spans := sr.Ended()
	if len(spans) != 1 || spans[0].Parent().IsValid() || len(spans[0].Links()) != 1 ||
		spans[0].SpanContext().TraceID().String() == clientTrace {
		t.Fatalf("spans %v, want one, recorded, the root of a new trace linking the caller's", spans)
	}
	if len(seen["Traceparent"]) != 0 || len(seen["Tracestate"]) != 0 {
		t.Errorf("the handler saw the caller's trace context: %v", seen)
	}
}

// StripContext (the gateway's, with tracing off) hands next a request
// without the client's trace context, and leaves the caller's as it was.
func TestStripContext(t *testing.T) {
	var seen *http.Request
	h := tracing.StripContext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	r := clientRequest("00-" + clientTrace + "-" + clientSpan + "-01")
	r.Header.Set("X-Other", "kept")
	r.Header.Set("Baggage", "tenant=other")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if len(seen.Header["Traceparent"]) != 0 || len(seen.Header["Tracestate"]) != 0 || len(seen.Header["Baggage"]) != 0 ||
		seen.Header.Get("X-Other") != "kept" {
		t.Errorf("next saw %v, want X-Other alone", seen.Header)
	}
	if r.Header.Get("traceparent") == "" || r.Header.Get("tracestate") == "" {
		t.Errorf("the caller's request lost its fields: %v", r.Header)
	}
	plain := httptest.NewRequest(http.MethodGet, "/", nil)
	if h.ServeHTTP(httptest.NewRecorder(), plain); seen != plain {
		t.Error("a request without trace context was copied")
	}
}
