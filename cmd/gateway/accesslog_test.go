package main

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/requestid"
)

// TestAccessLogNamesRouteNodeBudgetAndIDs: through the gateway, the access
// log line of a proxied request has its route, service, node, attempts,
// budget, request id and trace id; a request no route serves gets an id in
// its answer, its problem body and its line.
func TestAccessLogNamesRouteNodeBudgetAndIDs(t *testing.T) {
	backend := echoBackend(t)
	cfg, _ := loadFile(t, configText(backend, "  - {name: v1, path: /v1, service: svc, budget: {timeout: 3s}}\n"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	req := httptest.NewRequest("GET", "/v1", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	missing := get(h, "/nowhere")

	lines := logs.waitFor(t, "request", 2)
	line := lines[0]
	want := map[string]any{"route": "v1", "service": "svc", "node": backend, "attempts": float64(1),
		"budget_granted": float64(3e9), "request_id": rec.Header().Get(requestid.HeaderName),
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if left, ok := line["budget_left"].(float64); !ok || left <= 0 || left > 3e9 {
		t.Errorf("budget_left = %v, want between 0 and 3s", line["budget_left"])
	}
	id := missing.Header().Get(requestid.HeaderName)
	var body struct {
		ID string `json:"request_id"`
	}
	if err := json.Unmarshal(missing.Body.Bytes(), &body); err != nil || id == "" || body.ID != id || lines[1]["request_id"] != id {
		t.Errorf("404: header id %q, body %s, log id %v; want one id in all three", id, missing.Body, lines[1]["request_id"])
	}
	if _, has := lines[1]["route"]; has {
		t.Errorf("404 logged with route %v", lines[1]["route"])
	}
}
