package otlp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/tracing/otlp"
)

// NewProvider exports spans over OTLP/HTTP to the endpoint its Settings name;
// Shutdown flushes the last batch. The receiver here stands for a collector.
func ExampleNewProvider() {
	var (
		mu       sync.Mutex
		received []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					received = append(received, r.URL.Path+": "+service+" "+s.Name)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	ctx := context.Background()
	tp, err := otlp.NewProvider(ctx, otlp.Settings{
		Endpoint:    collector.Listener.Addr().String(), // host:port, without TLS
		SampleRatio: 1,
		ServiceName: "checkout",
	})
	if err != nil {
		log.Fatal(err)
	}
	_, span := tp.Tracer("example").Start(ctx, "charge card")
	span.End()
	if err := tp.Shutdown(ctx); err != nil { // flushes the batch
		log.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	fmt.Println(received)
	// Output: [/v1/traces: checkout charge card]
}

// An export observer is told of every export the provider attempts, with
// its spans and its error, for the gateway's metrics and logs.
func ExampleWithExportObserver() {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	var (
		mu               sync.Mutex
		exported, failed int
	)
	ctx := context.Background()
	tp, err := otlp.NewProvider(ctx, otlp.Settings{Endpoint: collector.URL, SampleRatio: 1},
		otlp.WithExportObserver(func(spans int, err error) {
			mu.Lock()
			if err != nil {
				failed += spans // lost: the exporter does not retry them later
			} else {
				exported += spans
			}
			mu.Unlock()
		}))
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		_, span := tp.Tracer("example").Start(ctx, name)
		span.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	fmt.Println("exported:", exported, "failed:", failed)
	// Output: exported: 2 failed: 0
}

// Validate names the wrong field by its YAML key, in a *FieldError, so that a
// configuration loader can point at it.
func ExampleSettings_Validate() {
	for _, s := range []otlp.Settings{
		{Endpoint: "collector:4318", SampleRatio: 0.1},
		{Protocol: "udp"},
		{SampleRatio: 1.5},
		{Endpoint: "collector"},
	} {
		err := s.Validate()
		var fe *otlp.FieldError
		if errors.As(err, &fe) {
			fmt.Printf("%s: %v\n", fe.Field, fe.Err)
			continue
		}
		fmt.Println("valid:", err == nil)
	}
	// Output:
	// valid: true
	// protocol: unknown protocol "udp": use http or grpc
	// sample_ratio: must be between 0 and 1
	// endpoint: endpoint "collector" must be host:port or an http:// or https:// URL
}
