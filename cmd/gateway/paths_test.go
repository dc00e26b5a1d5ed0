package main

import (
	"net/http"
	"testing"
)

// TestReservedPathsAreNotReachableThroughRoutes: /healthz and /readyz are
// the gateway's own; a catch-all route must not hand them to a backend
// under a spelling that the backend would read as them.
func TestReservedPathsAreNotReachableThroughRoutes(t *testing.T) {
	cfg, _ := loadFile(t, configText(echoBackend(t), "  - {name: all, path: /*, service: svc}\n"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	if rec := get(h, "/healthz"); rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Fatalf("/healthz = %d %q, want the gateway's own", rec.Code, rec.Body)
	}
	if rec := get(h, "/app/x"); rec.Code != http.StatusOK || rec.Body.String() != "/app/x" {
		t.Fatalf("/app/x = %d %q, want the backend's", rec.Code, rec.Body)
	}
	for _, p := range []string{"/app/../healthz", "/app/%2e%2e/healthz", "//healthz", "/%2Freadyz", "/app/..%2F..%2Freadyz"} {
		if rec := get(h, p); rec.Code != http.StatusBadRequest {
			t.Errorf("%s = %d %q, want 400", p, rec.Code, rec.Body)
		}
	}
}
