package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
)

const tracedGatewayConfig = `
listeners:
  - address: 127.0.0.1:0
registry:
  kind: static
  static:
    - {service: orders, address: %s}
tracing:
  enabled: true
  protocol: grpc
  endpoint: %s
  service_name: gateway
  client_context: continue # the test's client is trusted: the trace starts at its span
routes:
  - name: order
    method: GET
    path: /orders/{item}
    service: orders
    endpoint: Orders.Get
    budget: {timeout: 3s}
`

// TestTraceThroughTheChain sends one request through the gateway to the
// orders → inventory → pricing chain, every process exporting its spans to
// a real Jaeger (the gateway and inventory over OTLP/gRPC, orders and
// pricing over OTLP/HTTP), and reads the trace back from Jaeger's query API:
// one trace, each hop a server span that is the child of its caller's
// attempt span, the first a child of the client's traceparent (the gateway
// continues it: client_context continue), with the budget granted shrinking
// hop by hop.
func TestTraceThroughTheChain(t *testing.T) {
	j := startJaeger(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // export within 100ms, not 5s: the processes inherit it

	otlpHTTP := "http://" + j.otlpHTTP
	pricing := start(t, "pricing", "-listen", "127.0.0.1:0", "-otlp", otlpHTTP).addr(0)
	inventory := start(t, "inventory", "-listen", "127.0.0.1:0", "-peers", "pricing="+pricing,
		"-otlp", j.otlpGRPC, "-otlp-protocol", "grpc").addr(0)
	orders := start(t, "orders", "-listen", "127.0.0.1:0", "-peers", "inventory="+inventory, "-otlp", otlpHTTP).addr(0)
	cfg := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, cfg, fmt.Sprintf(tracedGatewayConfig, orders, j.otlpGRPC))
	gw := "http://" + start(t, "gateway", "-config", cfg).addr(0)

	var tid [16]byte
	_, _ = rand.Read(tid[:])
	traceID := hex.EncodeToString(tid[:])
	const clientSpan = "00f067aa0ba902b7"
	// The client is not a trusted proxy: the gateway makes the request id
	// (the one it answers with), which every span then carries.
	resp := get(t, gw+"/orders/widget", "traceparent", "00-"+traceID+"-"+clientSpan+"-01", "X-Request-Id", "forged")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	requestID := resp.header.Get("X-Request-Id")
	if requestID == "" || requestID == "forged" {
		t.Fatalf("answered with request id %q, want one the gateway made", requestID)
	}

	spans := j.waitTrace(t, traceID, 7)
	if len(spans) != 7 {
		t.Fatalf("%d spans, want 7", len(spans))
	}
	byParent := make(map[string][]*jaegerSpan)
	for _, s := range spans {
		byParent[s.parent()] = append(byParent[s.parent()], s)
	}
	// The chain, from the client's span down: each step the one child of
	// the span before it.
	want := []struct{ service, op, kind string }{
		{"gateway", "order", "server"},
		{"gateway", "orders", "client"},
		{"orders", "Orders.Get", "server"},
		{"orders", "inventory", "client"},
		{"inventory", "Inventory.Check", "server"},
		{"inventory", "pricing", "client"},
		{"pricing", "Pricing.Quote", "server"},
	}
	parent := clientSpan
	var chain []*jaegerSpan
	for i, w := range want {
		kids := byParent[parent]
		if len(kids) != 1 {
			t.Fatalf("step %d (%s %s): span %s has %d children, want 1", i, w.service, w.op, parent, len(kids))
		}
		s := kids[0]
		if s.Service != w.service || s.OperationName != w.op || s.Tags["span.kind"] != w.kind {
			t.Errorf("step %d: %s %s (%v), want %s %s (%s)", i, s.Service, s.OperationName, s.Tags["span.kind"], w.service, w.op, w.kind)
		}
		chain = append(chain, s)
		parent = s.SpanID
		t.Logf("%-9s %-15s %-6v hop %v granted %v ms, left %v ms, %v", s.Service, s.OperationName, s.Tags["span.kind"],
			s.Tags["sluice.hop"], s.Tags["sluice.budget.granted_ms"], s.Tags["sluice.budget.remaining_ms"], s.Tags["sluice.outcome"])
	}

	gwServer, gwAttempt := chain[0], chain[1]
	if gwServer.Tags["sluice.route"] != "order" || gwServer.num("sluice.budget.granted_ms") != 3000 ||
		gwServer.Tags["sluice.request_id"] != requestID || gwServer.num("http.response.status_code") != 200 {
		t.Errorf("gateway span tags %v: want route order, 3000 ms granted, the request id, status 200", gwServer.Tags)
	}
	if gwAttempt.Tags["sluice.route"] != "order" || gwAttempt.Tags["sluice.node"] != orders ||
		gwAttempt.num("sluice.attempt") != 0 || gwAttempt.Tags["sluice.outcome"] != "success" ||
		gwAttempt.Tags["sluice.request_id"] != requestID {
		t.Errorf("gateway attempt tags %v: want route order, node %s, attempt 0, success, the request id", gwAttempt.Tags, orders)
	}
	// Each hop: the attempt carries hop n and the budget left, which the
	// next server received (to the millisecond the header carries) and
	// which shrinks hop by hop.
	prevGranted := gwServer.num("sluice.budget.granted_ms")
	for hop := 1; hop <= 3; hop++ {
		attempt, server := chain[2*hop-1], chain[2*hop]
		left, got := attempt.num("sluice.budget.remaining_ms"), server.num("sluice.budget.granted_ms")
		if attempt.num("sluice.hop") != float64(hop) || server.num("sluice.hop") != float64(hop) {
			t.Errorf("hop %d: attempt hop %v, server hop %v", hop, attempt.Tags["sluice.hop"], server.Tags["sluice.hop"])
		}
		if left <= 0 || left >= prevGranted || got < left-1 || got > left {
			t.Errorf("hop %d: attempt left %v ms of %v granted, server received %v ms: want 0 < left < granted, received = left to the ms",
				hop, left, prevGranted, got)
		}
		if hop > 1 && attempt.num("sluice.budget.granted_ms") != prevGranted {
			t.Errorf("hop %d: attempt span's granted %v, want its server's %v", hop, attempt.num("sluice.budget.granted_ms"), prevGranted)
		}
		prevGranted = got
	}
}
