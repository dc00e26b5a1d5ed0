package main

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// The client's trace context in these tests: trace 4bf9…, span 00f0…,
// not sampled (flags 00), and a state of its own.
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID      = "00f067aa0ba902b7"
	clientTraceparent = "00-" + clientTraceID + "-" + clientSpanID + "-00"
	clientTracestate  = "vendor=client"
)

// traceBackend is a backend that keeps the trace fields of the last
// request it got.
func traceBackend(t *testing.T) (addr string, got func() http.Header) {
	t.Helper()
	var mu sync.Mutex
	var last http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = http.Header{"Traceparent": r.Header.Values("Traceparent"), "Tracestate": r.Header.Values("Tracestate")}
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), func() http.Header {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// sendTraced sends a client request carrying clientTraceparent and
// clientTracestate through the gateway that text configures, and returns
// the gateway, for its tracer to be stopped.
func sendTraced(t *testing.T, text string) *gateway {
	t.Helper()
	g, _ := sendTracedLogged(t, text)
	return g
}

// sendTracedLogged is sendTraced, and returns the gateway's log too.
func sendTracedLogged(t *testing.T, text string) (*gateway, *logBuffer) {
	t.Helper()
	cfg, _ := loadFile(t, text)
	logger, log := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1", nil)
	req.Header.Set("Traceparent", clientTraceparent)
	req.Header.Set("Tracestate", clientTracestate)
	rec := httptest.NewRecorder()
	if g.handler().ServeHTTP(rec, req); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return g, log
}

// With tracing off, a backend gets no trace context from a public client
// (client_context link, the default): its tracer would continue it. With
// client_context continue it gets the client's fields untouched.
func TestTracingOffKeepsClientContextFromBackends(t *testing.T) {
	for _, tc := range []struct {
		tracing       string
		parent, state string
	}{
		{"", "", ""},
		{"tracing: {client_context: link}\n", "", ""},
		{"tracing: {client_context: continue}\n", clientTraceparent, clientTracestate},
	} {
		backend, got := traceBackend(t)
		sendTraced(t, configText(backend, "  - {name: v1, path: /v1, service: svc}\n")+tc.tracing)
		h := got()
		if h.Get("Traceparent") != tc.parent || h.Get("Tracestate") != tc.state {
			t.Errorf("%q: the backend got traceparent %q, tracestate %q; want %q, %q",
				tc.tracing, h.Get("Traceparent"), h.Get("Tracestate"), tc.parent, tc.state)
		}
	}
}

// With tracing on and sample_ratio 1, a client's request that says "not
// sampled" is traced all the same, in a trace of the gateway's that links
// the client's span; the backend gets the gateway's trace, not the
// client's, nor its tracestate. With client_context continue, the
// gateway's span continues the client's trace.
func TestTracingOnLinksClientContext(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000") // only the shutdown exports
	for _, tc := range []struct {
		tracing string
		trusts  bool
	}{
		{"", false},
		{"client_context: continue, ", true},
	} {
		rc, receiver := newSpanReceiver(t)
		backend, got := traceBackend(t)
		g, log := sendTracedLogged(t, configText(backend, "  - {name: v1-route, path: /v1, service: svc}\n")+
			"tracing: {"+tc.tracing+"enabled: true, endpoint: \""+receiver+"\"}\n")
		lines, _ := log.find("request")
		if len(lines) != 1 {
			t.Fatalf("%d access log lines, want 1: %s", len(lines), log)
		}
		logged, _ := lines[0]["trace_id"].(string)
		if err := g.stopTracing(context.Background()); err != nil {
			t.Fatal(err)
		}
		sent := got()
		route := rc.named("v1-route")
		if tc.trusts {
			if route != nil {
				t.Errorf("continue: the gateway exported %v, want the client's flags 00 followed", route)
			}
			if p := sent.Get("Traceparent"); len(p) != 55 || p[3:35] != clientTraceID || sent.Get("Tracestate") != clientTracestate {
				t.Errorf("continue: the backend got %v, want the client's trace continued", sent)
			}
			if logged != clientTraceID {
				t.Errorf("continue: the access log names trace %q, want the client's, continued", logged)
			}
			continue
		}
		if route == nil {
			t.Fatal("link: no route span exported: the client's flags 00 opted it out of sample_ratio 1")
		}
		gwTrace := hex.EncodeToString(route.TraceId)
		if gwTrace == clientTraceID || len(route.ParentSpanId) != 0 {
			t.Errorf("link: route span in trace %s, parent %x; want the root of a trace of the gateway's", gwTrace, route.ParentSpanId)
		}
		if len(route.Links) != 1 || hex.EncodeToString(route.Links[0].TraceId) != clientTraceID ||
			hex.EncodeToString(route.Links[0].SpanId) != clientSpanID {
			t.Errorf("link: links %v, want one to the client's span %s", route.Links, clientSpanID)
		}
		if p := sent.Get("Traceparent"); len(p) != 55 || p[3:35] != gwTrace {
			t.Errorf("link: the backend got traceparent %q, want one of the gateway's trace %s", p, gwTrace)
		}
		if s := sent.Values("Tracestate"); len(s) != 0 {
			t.Errorf("link: the backend got tracestate %q, the client's", s)
		}
		if logged != gwTrace {
			t.Errorf("link: the access log names trace %q, want the gateway's %s", logged, gwTrace)
		}
	}
}
