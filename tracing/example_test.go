package tracing_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/upstream"
)

// A backend turns tracing on with one tracer: Inbound continues the
// caller's trace for each request it serves, and the companion client makes
// a span of each attempt of the calls it makes, sending the attempt's own
// traceparent. A real backend passes a provider that exports, such as
// tracing/otlp.NewProvider's, or otel.GetTracerProvider().
func Example_backend() {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	tr := tracing.New(tp)

	// The service this backend calls.
	pricing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "42")
	}))
	defer pricing.Close()
	reg, _ := registry.NewStatic(&registry.Node{Service: "pricing", Address: pricing.Listener.Addr().String()})
	client := upstream.New(reg, upstream.WithTracer(tr))

	// The backend's handler, behind the budget middleware and the tracer.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://pricing/quote", nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
	})
	srv := httptest.NewServer(tr.Inbound(budget.Inbound(budget.ServerPolicy{Max: 30 * time.Second})(h)))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rpc/Inventory.Check", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set(budget.HeaderName, "ms=2000, hop=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	_ = tp.Shutdown(context.Background())
	for _, s := range sr.Ended() {
		fmt.Println(s.SpanKind(), s.Name(), s.SpanContext().TraceID())
	}
	// Output:
	// client pricing 4bf92f3577b34da6a3ce929d0e0e4736
	// server Inventory.Check 4bf92f3577b34da6a3ce929d0e0e4736
}
