package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hungBackend is a node that takes connections and reads requests, but
// never answers (a process deadlocked, or stopped with its port open). It
// counts the connections it took.
func hungBackend(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var accepted atomic.Int64
	addr := rawNode(t, func(c net.Conn) {
		accepted.Add(1)
		_, _ = io.Copy(io.Discard, c)
	})
	return addr, &accepted
}

// A gateway just started, with the defaults, in front of three nodes of
// which one takes connections and never answers, under 32 clients at a
// time sending GETs. Once the service has given 20 answers, an attempt on
// the hung node is cut by the derived per-try timeout and retried on
// another: no GET fails. But the first calls were sent before any answer,
// with no per-try timeout to derive, and those that went to the hung node
// waited for their whole budget (5 s) and failed with 504: 11 of 160,
// one hung node costing a third of the first wave of clients. Now those
// attempts are cut as soon as the service's latency is known, at the
// per-try timeout they would have had, and retried.
func TestAHungNodeAtColdStartFailsNoGET(t *testing.T) {
	hung, accepted := hungBackend(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // a healthy node's work
		_, _ = io.WriteString(w, "ok")
	})
	good1, good2 := httptest.NewServer(ok), httptest.NewServer(ok)
	t.Cleanup(good1.Close)
	t.Cleanup(good2.Close)
	addr := gatewayOver(t, "path: /x", hung, good1.Listener.Addr().String(), good2.Listener.Addr().String())

	const clients, each = 32, 5
	var failed atomic.Int64
	var mu sync.Mutex
	kinds := map[string]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := &http.Client{Timeout: waitLimit}
			<-start // the first wave arrives at once, before any answer
			for range each {
				resp, err := c.Get("http://" + addr + "/x")
				kind := ""
				if err != nil {
					kind = "error"
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "ok") {
						kind = resp.Status
					}
				}
				if kind != "" {
					failed.Add(1)
					mu.Lock()
					kinds[kind]++
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("%d of %d GETs failed %v; the hung node took %d connections", failed.Load(), clients*each, kinds, accepted.Load())
	if accepted.Load() == 0 {
		t.Fatal("the hung node took no connection: the test tells nothing")
	}
	if failed.Load() > 0 {
		t.Errorf("%d of %d GETs failed %v, want none: a node hung from the start cost more than per-try timeouts",
			failed.Load(), clients*each, kinds)
	}
}
