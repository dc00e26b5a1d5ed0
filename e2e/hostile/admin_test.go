package hostile

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metric returns the sum of the gateway's samples of the metric name (all
// label sets), read from the admin listener's /metrics.
func metric(t *testing.T, s *stack, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		t.Fatalf("reading metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
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
		Node string `json:"node"`
	} `json:"ejections"`
}

func adminUpstream(t *testing.T, s *stack) upstreamState {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/admin/upstream")
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
