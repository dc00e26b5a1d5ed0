package hostile

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream/h1"
)

// resources is what a gateway holds: goroutines (from its goroutine
// profile: go_goroutines is read while the metrics' collectors run in
// goroutines of their own, a varying number), open file descriptors and
// requests in flight (from its metrics).
type resources struct{ goroutines, fds, inFlight float64 }

func (r resources) String() string {
	return fmt.Sprintf("%v goroutines, %v open files, %v requests in flight", r.goroutines, r.fds, r.inFlight)
}

// held reads the gateway's resources over a fresh connection (the idle
// ones closed first), so that each reading counts the one connection it
// makes and none left idle by an earlier one.
func held(t *testing.T, s *stack) resources {
	t.Helper()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	r := resources{
		fds:      metric(t, s, "process_open_fds"),
		inFlight: metric(t, s, "sluice_requests_in_flight"),
	}
	p := goroutines(s)
	if _, err := fmt.Sscanf(p, "goroutine profile: total %g", &r.goroutines); err != nil {
		t.Fatalf("the gateway's goroutine profile: %v: %.200s", err, p)
	}
	return r
}

// checkReleased waits until the gateway holds no more than it did before
// the suite: every case's client connections are closed by then, so what
// stays is a leak (a goroutine parked forever on a hostile client's or
// backend's behalf, a socket never closed, a request never ended).
// Connections the pool keeps to backends are released at the pool's idle
// timeout, so the wait allows that long, and the hang limit on top.
func checkReleased(t *testing.T, s *stack, before resources) {
	t.Helper()
	limit := h1.DefaultIdleTimeout + hangLimit
	start := time.Now()
	deadline := start.Add(limit)
	for {
		now := held(t, s)
		if now.inFlight == 0 && now.goroutines <= before.goroutines && now.fds <= before.fds {
			t.Logf("released after %v: %v; before the suite: %v", time.Since(start).Round(time.Millisecond), now, before)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after the suite the gateway still holds %v after %v; before it: %v; its goroutines:\n%s", now, limit, before, goroutines(s))
			return
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, not waiting for luck
	}
}

// goroutines returns the gateway's goroutine profile, grouped by stack.
func goroutines(s *stack) string {
	resp, err := http.Get("http://" + s.admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
