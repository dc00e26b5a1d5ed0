package demo

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestExamplesExportTheBudgetView: an example records the budget it
// receives by hop and its calls to its peers, served at /metrics under the
// gateway's names.
func TestExamplesExportTheBudgetView(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer peer.Close()
	client, err := Client(Peers{{Service: "peer", Address: peer.Listener.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", "http://peer/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}), slog.New(slog.DiscardHandler))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Sluice-Budget", "ms=2000, hop=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`sluice_budget_received_seconds_count{hop="1"} 1`,
		`sluice_budget_remaining_seconds_count{hop="2",service="peer"} 1`,
		`sluice_upstream_attempts_total{kind="first",outcome="success",service="peer"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
