package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// spanReceiver is an OTLP/HTTP receiver that keeps the spans posted to it.
type spanReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newSpanReceiver(t *testing.T) (*spanReceiver, string) {
	rc := &spanReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	return rc, srv.Listener.Addr().String()
}

// named returns the span called name, or nil.
func (rc *spanReceiver) named(name string) *tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, s := range rc.spans {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// The gateway traces a request when tracing is on (the route's span and its
// attempt's, whose traceparent the node gets), and flushes the spans when it
// stops: the batch delay here is an hour, so only the shutdown sends them.
func TestTracingExportsAndFlushesOnShutdown(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	rc, receiver := newSpanReceiver(t)
	parents := make(chan string, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parents <- r.Header.Get("traceparent")
	}))
	defer backend.Close()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, configText(backend.Listener.Addr().String(), "  - {name: v1-route, path: /v1, service: svc}\n")+
		"tracing: {enabled: true, endpoint: \""+receiver+"\"}\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := newLogBuffer()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", path}, stdout, io.Discard, make(chan os.Signal)) }()
	listening := stdout.waitFor(t, "listening", 2)
	resp, err := http.Get("http://" + listening[0]["address"].(string) + "/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent := <-parents
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	route, attempt := rc.named("v1-route"), rc.named("svc")
	if route == nil || attempt == nil || route.Kind != tracepb.Span_SPAN_KIND_SERVER || attempt.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Fatalf("spans exported: route %v, attempt %v; want v1-route (server) and svc (client)", route, attempt)
	}
	if id := hex.EncodeToString(attempt.SpanId); len(parent) != 55 || parent[36:52] != id {
		t.Errorf("the node got traceparent %q, want one naming the attempt span %s", parent, id)
	}
}
