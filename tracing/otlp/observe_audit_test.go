package otlp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/sluicehq/sluice/tracing/otlp"
)

// errorCount is an OpenTelemetry global error handler that counts.
type errorCount struct {
	mu sync.Mutex
	n  int
}

func (e *errorCount) Handle(error) { e.mu.Lock(); e.n++; e.mu.Unlock() }

// An export observer is told of every export, its spans and its error,
// and is then the only one told of a failure: the global error handler,
// which prints each failed batch unstructured on standard error, is not.
func TestExportObserverIsToldOfEveryExport(t *testing.T) {
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	refuse := true
	var mu sync.Mutex
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer receiver.Close()
	handled := &errorCount{}
	otel.SetErrorHandler(handled)
	defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))

	type export struct {
		spans int
		ok    bool
	}
	var exports []export
	var emu sync.Mutex
	tp, err := otlp.NewProvider(context.Background(), otlp.Settings{Endpoint: receiver.Listener.Addr().String(), SampleRatio: 1},
		otlp.WithExportObserver(func(spans int, err error) {
			emu.Lock()
			exports = append(exports, export{spans, err == nil})
			emu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // one batch
		_, span := tp.Tracer("t").Start(context.Background(), "s")
		span.End()
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush: %v; the observer reports a failed export, the batcher does not", err)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	emu.Lock()
	defer emu.Unlock()
	if want := []export{{2, false}, {1, true}}; len(exports) != 2 || exports[0] != want[0] || exports[1] != want[1] {
		t.Errorf("the observer was told of %v, want %v", exports, want)
	}
	handled.mu.Lock()
	defer handled.mu.Unlock()
	if handled.n != 0 {
		t.Errorf("the global error handler was told of %d errors, want none: the observer reports them", handled.n)
	}
}

// The ended observer counts every sampled span handed to the batcher,
// those its full queue drops included: with a receiver that never answers
// and a queue of 8, 100 spans ended are 100 counted, and what is neither
// exported nor failed is what the batcher dropped.
func TestEndedObserverCountsTheSpansTheQueueDrops(t *testing.T) {
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8")
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	hung := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hung }))
	defer receiver.Close()
	defer close(hung)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))

	var mu sync.Mutex
	ended, sent := 0, 0
	tp, err := otlp.NewProvider(context.Background(), otlp.Settings{Endpoint: receiver.Listener.Addr().String(), SampleRatio: 1},
		otlp.WithEndedObserver(func() { mu.Lock(); ended++; mu.Unlock() }),
		otlp.WithExportObserver(func(spans int, err error) { mu.Lock(); sent += spans; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		_, span := tp.Tracer("t").Start(context.Background(), "s")
		span.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	tp.Shutdown(ctx) // gives up on the hung receiver
	mu.Lock()
	defer mu.Unlock()
	if ended != 100 {
		t.Fatalf("the observer counted %d spans ended, want 100", ended)
	}
	if sent > 8+4 {
		t.Fatalf("%d spans exported or failed, more than the queue and a batch hold", sent)
	}
}
