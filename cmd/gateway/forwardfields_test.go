package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestForwardFields: the gateway adds forwardFields fields to a request it
// forwards on the default route, the room its listeners' lean servers make
// in each request's header map (server.Server.HeaderRoom). A field added or
// dropped on that path must change the constant too, or the map grows again
// on every request with a few fields of its own.
func TestForwardFields(t *testing.T) {
	got := make(chan http.Header, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	t.Cleanup(backend.Close)
	cfg, _ := loadFile(t, configText(backend.Listener.Addr().String(), "  - {name: v1, path: /v1, service: svc}\n"))
	g, err := newGateway(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.resilience.transport.CloseIdleConnections()
	req := httptest.NewRequest("GET", "/v1", nil)
	client := http.Header{"User-Agent": {"test"}, "Accept": {"*/*"}, "Accept-Language": {"en"},
		"Cookie": {"a=b"}, "Referer": {"https://example.com/"}, "Cache-Control": {"no-cache"}}
	req.Header = client.Clone()
	rec := httptest.NewRecorder()
	g.handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("answer %d: %s", rec.Code, rec.Body)
	}
	h := <-got
	added := 0
	for k := range h {
		if _, ok := client[k]; !ok {
			added++
		}
	}
	for k := range client {
		if _, ok := h[k]; !ok {
			t.Errorf("the client's %s did not reach the backend", k)
		}
	}
	if added != forwardFields {
		t.Errorf("the gateway added %d fields (%v), forwardFields is %d", added, h, forwardFields)
	}
}
