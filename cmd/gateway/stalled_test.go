package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream"
)

// stalledUploads is how many uploads stall at once in
// TestStalledUploadsLeaveOthersAlone.
const stalledUploads = 1000

// A thousand uploads that stall after 5 bytes, to a service whose pool holds
// 4 connections, take none of them: other clients' GETs to the same service
// all succeed, and no upload reaches the backend (issue 10, item 4). The
// GETs' latency before and during is logged, not asserted: timing on a
// shared machine proves little.
func TestStalledUploadsLeaveOthersAlone(t *testing.T) {
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) { testStalledUploads(t, kind) })
	}
}

func testStalledUploads(t *testing.T, kind string) {
	var posts, gets atomic.Int32
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		} else {
			gets.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(be.Close)
	// The uploads' budget and idle timeout outlast the test: only the
	// gateway's holding them before a node is picked keeps them off the pool.
	cfg, _ := loadFile(t, "limits: {body_idle_timeout: 5m}\n"+configText(be.Listener.Addr().String(),
		"  - {method: POST, path: /up, service: svc, budget: {timeout: 5m, max: 5m}}\n  - {path: /get, service: svc}\n"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	g.resilience.transport = upstream.NewLeanTransport(upstream.TransportOptions{MaxConnsPerNode: 4})
	t.Cleanup(g.resilience.transport.CloseIdleConnections)
	g.client = g.resilience.client(cfg, g.registry)
	if err := g.install(cfg); err != nil {
		t.Fatal(err)
	}
	addr := serveHandler(t, g.handler(), kind)

	p50, p99 := getLatencies(t, addr)
	t.Logf("%s: GETs before the stall: p50 %v, p99 %v", kind, p50, p99)

	conns := make([]net.Conn, 0, stalledUploads)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range stalledUploads {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("after %d uploads: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\nhello"); err != nil {
			t.Fatal(err)
		}
	}
	waitInFlight(t, g, func(n float64) bool { return n >= stalledUploads }, "every upload in flight")

	p50, p99 = getLatencies(t, addr)
	t.Logf("%s: GETs during %d stalled uploads: p50 %v, p99 %v", kind, stalledUploads, p50, p99)
	if n := posts.Load(); n != 0 {
		t.Errorf("%d stalled uploads reached the backend; none may hold a pooled connection", n)
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitInFlight(t, g, func(n float64) bool { return n == 0 }, "no request in flight once the uploaders left")
}

// getLatencies sends 200 GETs from 4 clients at once (as many as the pool
// holds, so that none has to wait for a connection unless something else
// holds one) and returns their p50 and p99. Every GET must succeed.
func getLatencies(t *testing.T, addr string) (p50, p99 time.Duration) {
	t.Helper()
	const clients, each = 4, 50
	var mu sync.Mutex
	var ds []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: waitLimit}
			for range each {
				start := time.Now()
				resp, err := client.Get("http://" + addr + "/get")
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("GET answered %d", resp.StatusCode)
					return
				}
				mu.Lock()
				ds = append(ds, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a GET failed: %v", err)
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Round(time.Microsecond), ds[len(ds)*99/100].Round(time.Microsecond)
}

// waitInFlight waits until the gateway's in-flight gauge satisfies ok.
func waitInFlight(t *testing.T, g *gateway, ok func(float64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		n := inFlight(t, g)
		if ok(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %v in flight", what, n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, bounded by waitLimit
	}
}

func inFlight(t *testing.T, g *gateway) float64 {
	t.Helper()
	return gauge(t, g, "sluice_requests_in_flight")
}

// gauge returns the value of g's gauge name, which has no labels.
func gauge(t *testing.T, g *gateway, name string) float64 {
	t.Helper()
	mfs, err := g.promReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}
