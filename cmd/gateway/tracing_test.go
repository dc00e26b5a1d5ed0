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
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP receiver that keeps the spans posted to it.
type otlpReceiver struct {
	mu    sync.Mutex
	spans map[string]string // span name → span id (hex)
	kinds map[string]string // span name → kind
}

func newOTLPReceiver(t *testing.T) (*otlpReceiver, string) {
	rc := &otlpReceiver{spans: make(map[string]string), kinds: make(map[string]string)}
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
				for _, s := range ss.Spans {
					rc.spans[s.Name] = hex.EncodeToString(s.SpanId)
					rc.kinds[s.Name] = s.Kind.String()
				}
			}
		}
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	return rc, srv.Listener.Addr().String()
}

// The gateway traces a request when tracing is on (the route's span and its
// attempt's, whose traceparent the node gets), and flushes the spans when it
// stops: the batch delay here is an hour, so only the shutdown sends them.
func TestTracingExportsAndFlushesOnShutdown(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	rc, receiver := newOTLPReceiver(t)
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

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.kinds["v1-route"] != "SPAN_KIND_SERVER" || rc.kinds["svc"] != "SPAN_KIND_CLIENT" {
		t.Fatalf("spans exported: %v, want v1-route (server) and svc (client)", rc.kinds)
	}
	if len(parent) != 55 || parent[36:52] != rc.spans["svc"] {
		t.Errorf("the node got traceparent %q, want one naming the attempt span %s", parent, rc.spans["svc"])
	}
}
