package hostile

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// metric returns the sum of the gateway's samples of the metric name (all
// label sets), read from the admin listener's /metrics.
func metric(t *testing.T, s *stack, name string) float64 {
	t.Helper()
	return metricAt(t, s.admin, name, "")
}

// waitMetric polls the metric until cond holds, or fails the test after
// hangLimit.
func waitMetric(t *testing.T, s *stack, name string, cond func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(hangLimit)
	for {
		v := metric(t, s, name)
		if cond(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v for %v", name, v, hangLimit)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for luck
	}
}

// upstreamState is GET /admin/upstream of the admin listener.
type upstreamState struct {
	Breakers []struct {
		Service string `json:"service"`
		State   string `json:"state"`
		Calls   int    `json:"calls"`
		Faults  int    `json:"faults"`
	} `json:"breakers"`
	Ejections []struct {
		Node  string    `json:"node"`
		Until time.Time `json:"until"`
	} `json:"ejections"`
}

func adminUpstream(t *testing.T, s *stack) upstreamState {
	t.Helper()
	return upstreamAt(t, s.admin)
}

// upstreamAt is GET /admin/upstream of the admin listener at admin.
func upstreamAt(t *testing.T, admin string) upstreamState {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/admin/upstream")
	if err != nil {
		t.Fatalf("GET /admin/upstream: %v", err)
	}
	defer resp.Body.Close()
	var st upstreamState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /admin/upstream: %v", err)
	}
	return st
}
