package router_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// TestUpstreamFailuresTellNoAddress: a failure the gateway answers 5xx for
// is logged with its cause; the client, anyone on the internet, gets the
// status, type and title, and neither the nodes' addresses nor the
// transport's errors (the network behind the edge). The retry advice still
// reaches it.
func TestUpstreamFailuresTellNoAddress(t *testing.T) {
	down := closedAddr(t)
	hang, arrived, _ := hangingBackend(t)
	s := (&setup{}).node("down", down).node("hang", hang.addr())
	rt := s.build(t,
		router.Route{Method: "GET", Path: "/down", Service: "down", Budget: policy},
		router.Route{Method: "GET", Path: "/hang", Service: "hang", Budget: budget.Policy{Timeout: time.Second}},
	)
	tests := []struct {
		path   string
		status int
		secret string
	}{
		{"/down", http.StatusBadGateway, down},
		{"/hang", http.StatusGatewayTimeout, hang.addr()},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() { done <- serve(rt, httptest.NewRequest("GET", tt.path, nil)) }()
			if tt.path == "/hang" {
				waitFor(t, arrived, "the request to reach the backend")
			}
			rec := waitFor(t, done, "the gateway's answer")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			for _, leak := range []string{tt.secret, "127.0.0.1", "upstream:", "dial", "tcp", "context deadline"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Errorf("the answer tells the client %q: %s", leak, rec.Body)
				}
			}
		})
	}
	if got := answerTo(t, rt, "/down").Header().Get("Sluice-Retry"); got == "" {
		t.Error("the answer lost its Sluice-Retry advice")
	}
}

func answerTo(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(h, httptest.NewRequest("GET", target, nil))
}
