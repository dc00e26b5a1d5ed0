package router_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/upstream"
)

// BenchmarkTracing prices tracing on the proxied request of
// BenchmarkProxiedRequest/client (the router and a real upstream.Client over
// a canned transport): off, which must cost what that benchmark costs, and
// on, every span sampled and recorded but exported nowhere.
func BenchmarkTracing(b *testing.B) {
	run := func(b *testing.B, tr *tracing.Tracer) {
		reg, err := registry.NewStatic(&registry.Node{Service: "greeter", Address: "127.0.0.1:1"})
		if err != nil {
			b.Fatal(err)
		}
		client := upstream.New(reg, upstream.WithTransport(cannedTransport{}), upstream.WithTracer(tr))
		rt, err := router.New(benchRoutes(50), client, router.Options{Tracer: tr})
		if err != nil {
			b.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "http://gateway/hello/bench", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("User-Agent", "wrk")
		r.Header.Set("Accept", "application/json")
		fields := r.Header.Clone()
		w := &benchWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			resetHeader(r, fields)
			rt.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, nil) })
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider()
		defer tp.Shutdown(context.Background())
		run(b, tracing.New(tp))
	})
}
