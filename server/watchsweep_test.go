package server

import (
	"io"
	"net/http"
	"runtime/metrics"
	"testing"
	"time"
)

// goroutinesCreated reads how many goroutines the process has created.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("the runtime does not count the goroutines it creates")
	}
	return s[0].Value.Uint64()
}

// TestWatchSweepFiresPerServer proves that what starts the watches fires
// per Server, not per connection, and stops when requests stop: 40
// connections kept busy with short requests for 30 times WatchAfter, from
// this goroutine alone, make the server create no goroutine but theirs and
// at most the sweeper's (eight a WatchAfter at most, about one in fact).
// A timer per connection fired about once per WatchAfter on each: 1,200
// goroutines. Once the requests stop, the sweeper stops.
func TestWatchSweepFiresPerServer(t *testing.T) {
	const (
		after = 10 * time.Millisecond
		conns = 40
	)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Method+" "+r.URL.Path) }),
		func(s *Server) { s.WatchAfter = after })
	rcs := make([]*rawConn, conns)
	for i := range rcs {
		rcs[i] = dialRaw(t, ts.addr)
	}
	// Each connection served once: its goroutine exists.
	for _, rc := range rcs {
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "GET /")
	}
	before, start := goroutinesCreated(t), time.Now()
	n := 0
	for time.Since(start) < 30*after || n < 2000 {
		for _, rc := range rcs {
			rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			rc.read("GET").checkOK(t, "GET /")
			n++
		}
	}
	elapsed := time.Since(start)
	created := goroutinesCreated(t) - before
	bound := uint64(elapsed/(after/8)) + 2
	t.Logf("%d requests over %d connections in %v: %d goroutines created (at most %d allowed)", n, conns, elapsed, created, bound)
	if created > bound {
		t.Errorf("%d goroutines created for %d short requests in %v, want at most %d: one sweeper's", created, n, elapsed, bound)
	}

	// The requests stopped: the sweeper drops their watches and stops
	// (its timer no longer set), and stays stopped.
	deadline := time.Now().Add(2 * time.Second)
	for ts.sweep.armed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper still runs 2 s after the last request")
		}
		time.Sleep(after) // polling the sweeper's state
	}
	time.Sleep(5 * after)
	if ts.sweep.armed.Load() || ts.sweep.head.Load() != nil {
		t.Error("the sweeper started again while no request came")
	}
}
