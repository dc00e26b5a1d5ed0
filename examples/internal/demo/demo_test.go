package demo

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	series := []string{
		`sluice_budget_received_seconds_count{hop="1"}`,
		`sluice_budget_remaining_seconds_count{hop="2",service="peer"}`,
		`sluice_upstream_attempts_total{kind="first",outcome="success",service="peer"}`,
	}
	// The metrics live as long as the process: counted from what they
	// held before, so that the test holds when run again (-count).
	before := scrape(t, h, series)
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Sluice-Budget", "ms=2000, hop=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))

	after := scrape(t, h, series)
	for i, s := range series {
		if after[i] != before[i]+1 {
			t.Errorf("/metrics has %s %v, want %v", s, after[i], before[i]+1)
		}
	}
}

// scrape reads h's /metrics and returns the value of each of series (0
// for one not there yet).
func scrape(t *testing.T, h http.Handler, series []string) []float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	vals := make([]float64, len(series))
	for line := range strings.Lines(rec.Body.String()) {
		for i, s := range series {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), s+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("/metrics: %q: %v", line, err)
				}
				vals[i] = f
			}
		}
	}
	return vals
}
