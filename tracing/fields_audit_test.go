package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// foreignContext are trace context fields of the formats other than W3C's
// that a backend's tracer may read, as a client would send them (any case:
// the header canonicalizes them), with values that force sampling.
var foreignContext = [][2]string{
	{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"},
	{"x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"},
	{"X-B3-SpanId", "e457b5a2e4d86bd1"},
	{"X-B3-ParentSpanId", "05e3ac9a4f6e3b90"},
	{"X-B3-Sampled", "1"},
	{"X-B3-Flags", "1"},
	{"uber-trace-id", "80f198ee56343ba864fe8b2a57d3eff7:e457b5a2e4d86bd1:0:1"},
	{"uberctx-tenant", "victim"},
	{"jaeger-debug-id", "flood"},
	{"jaeger-baggage", "tenant=victim"},
	{"ot-tracer-traceid", "80f198ee56343ba8"},
	{"ot-tracer-spanid", "e457b5a2e4d86bd1"},
	{"ot-tracer-sampled", "true"},
	{"ot-baggage-tenant", "victim"},
	{"x-datadog-trace-id", "1234567890"},
	{"x-datadog-parent-id", "987654321"},
	{"x-datadog-sampling-priority", "2"},
	{"x-datadog-origin", "synthetics"},
	{"x-datadog-tags", "_dd.p.dm=-4"},
	{"X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
	{"X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1"},
	{"grpc-trace-bin", "AABAgICAgICAgICAgICAgICAAUAgICAgICAgAIB"},
	// As CGI, WSGI and Rack backends read X-B3-Sampled and Ot-Baggage-Tenant.
	{"X_B3_SAMPLED", "1"},
	{"ot_baggage_tenant", "victim"},
}

// w3cContext is the client's W3C trace context.
var w3cContext = [][2]string{
	{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	{"tracestate", "vendor=client"},
	{"baggage", "tenant=victim"},
}

// innocent are fields that look like trace context and are not.
var innocent = [][2]string{
	{"User-Agent", "wrk"},
	{"Accept", "*/*"},
	{"X-Request-Id", "r-1"},
	{"X-B3", "not a b3 field"},
	{"Uber-Trace", "not jaeger's"},
	{"Ot-Tracer", "not opentracing's"},
	{"X-Datadog-Api-Key", "not a trace field"},
	{"Traceparent-Extra", "no"},
	{"Grpc-Timeout", "1S"},
	{"Baggage_", "no"},
}

func clientWith(sets ...[][2]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	for _, fields := range sets {
		for _, f := range fields {
			r.Header.Add(f[0], f[1])
		}
	}
	return r
}

// checkNone fails t for every field of fields that h has, by its header
// name as the client wrote it.
func checkNone(t *testing.T, what string, h http.Header, fields [][2]string) {
	t.Helper()
	for _, f := range fields {
		if v := h.Values(f[0]); len(v) != 0 {
			t.Errorf("%s: %s reached the handler: %q", what, f[0], v)
		}
	}
}

// checkAll fails t for every field of fields that h lacks.
func checkAll(t *testing.T, what string, h http.Header, fields [][2]string) {
	t.Helper()
	for _, f := range fields {
		if v := h.Values(f[0]); len(v) != 1 || v[0] != f[1] {
			t.Errorf("%s: %s is %q, want %q", what, f[0], v, f[1])
		}
	}
}

// With tracing off and client_context link (StripContext), a backend gets
// no trace context of the client's in any format, whose fields would let
// the client choose the backend's trace and force its sampling; other
// fields pass, and the caller's request keeps its fields.
func TestStripContextRemovesEveryFormat(t *testing.T) {
	r := clientWith(foreignContext, w3cContext, innocent)
	var seen http.Header
	StripContext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header })).
		ServeHTTP(httptest.NewRecorder(), r)
	checkNone(t, "StripContext", seen, foreignContext)
	checkNone(t, "StripContext", seen, w3cContext)
	checkAll(t, "StripContext", seen, innocent)
	checkAll(t, "the caller's request", r.Header, foreignContext)
}

// One field of another format is enough for the copy: the check is not a
// W3C one with the others tagging along.
func TestStripContextRemovesALoneField(t *testing.T) {
	for _, f := range foreignContext {
		r := clientWith([][2]string{f}, innocent)
		got := withoutContext(r)
		if got == r {
			t.Errorf("%s alone: the request was passed on as it was", f[0])
			continue
		}
		checkNone(t, f[0]+" alone", got.Header, [][2]string{f})
		checkAll(t, f[0]+" alone", got.Header, innocent)
	}
}

// With tracing on and client_context link (PublicEndpoint) the route's
// handler, which forwards, sees none of them either; without it
// (continue) it sees them all.
func TestRouteRemovesEveryFormatForPublicEndpoint(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	for _, public := range []bool{true, false} {
		var opts []Option
		if public {
			opts = append(opts, PublicEndpoint())
		}
		var seen http.Header
		h := New(tp, opts...).Route("get-order", "orders",
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header }))
		h.ServeHTTP(httptest.NewRecorder(), clientWith(foreignContext, innocent))
		if public {
			checkNone(t, "PublicEndpoint", seen, foreignContext)
		} else {
			checkAll(t, "continue", seen, foreignContext)
		}
		checkAll(t, "Route", seen, innocent)
	}
}

// A request without trace context costs no allocation and no copy: the
// default route's hot path.
func TestStripContextTypicalRequestAllocatesNothing(t *testing.T) {
	r := clientWith(innocent)
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("Authorization", "Bearer x")
	if got := withoutContext(r); got != r {
		t.Fatal("a request without trace context was copied")
	}
	if n := testing.AllocsPerRun(100, func() { withoutContext(r) }); n != 0 {
		t.Errorf("%v allocations per request without trace context, want 0", n)
	}
	under := clientWith([][2]string{{"X_Request_Id", "r-1"}, {"User_Agent", "wrk"}})
	if n := testing.AllocsPerRun(100, func() { withoutContext(under) }); n != 0 {
		t.Errorf("%v allocations per request with '_' names, want 0", n)
	}
}

// BenchmarkWithoutContext prices the check on a request of the benchmark's
// kind (a few fields, no trace context).
func BenchmarkWithoutContext(b *testing.B) {
	r := clientWith([][2]string{{"User-Agent", "wrk"}, {"Accept", "*/*"}, {"Accept-Encoding", "gzip"},
		{"Accept-Language", "en"}, {"X-Request-Id", "r-1"}, {"Cookie", "a=b"}, {"Authorization", "Bearer x"},
		{"X-Forwarded-For", "10.0.0.1"}})
	b.ReportAllocs()
	for b.Loop() {
		if withoutContext(r) != r {
			b.Fatal("copied")
		}
	}
}
