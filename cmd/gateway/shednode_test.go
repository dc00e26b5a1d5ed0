package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// A node that sheds its overload answers as budget.Inbound does: 503
// overloaded, Retry-After: 1, Sluice-Retry: not-processed, no work done.
// The gateway sends such a request to another node, whatever its method;
// but the node is alive and answering, and ejecting it for shedding would
// send its load to the others, which would shed in turn, until none was
// left. It counted as a fault, as a refused connection does: ejected, the
// breaker told. Selection steers away from it instead, as from a 429, and
// its concurrency limit backs off.
func TestANodeSheddingItsOverloadIsNotEjected(t *testing.T) {
	var shed, served atomic.Int64
	shedding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shed.Add(1)
		w.Header().Set("Sluice-Retry", "not-processed")
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"type":"urn:sluice:problem:overloaded","title":"Overloaded","status":503}`)
	}))
	t.Cleanup(shedding.Close)
	var others []string
	for range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served.Add(1)
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "done")
		}))
		t.Cleanup(srv.Close)
		others = append(others, srv.Listener.Addr().String())
	}
	var b strings.Builder
	b.WriteString("listeners: [{address: \"127.0.0.1:0\"}]\nregistry:\n  static:\n")
	for _, a := range append([]string{shedding.Listener.Addr().String()}, others...) {
		fmt.Fprintf(&b, "    - {service: svc, address: %q}\n", a)
	}
	b.WriteString("routes:\n  - {method: POST, path: /p, service: svc}\n")
	cfg, _ := loadFile(t, b.String())
	logger, _ := newLogger()
	g, addr := startGateway(t, cfg, logger, listenerKinds[0])

	// Clients at once: selection steers away from a node a penalty
	// marks, but with several calls in flight it picks it now and then.
	const clients, each = 16, 60
	calls := clients * each
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	t.Cleanup(client.CloseIdleConnections)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				resp, err := client.Post("http://"+addr+"/p", "text/plain", strings.NewReader("order"))
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "done" {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d POSTs failed, want every one sent on to another node", n, calls)
	}
	t.Logf("%d POSTs: %d shed by the overloaded node, %d served by the others", calls, shed.Load(), served.Load())
	if shed.Load() == 0 {
		t.Fatal("the shedding node was never picked: the test shows nothing")
	}
	if ej := g.resilience.ejector.Ejections(); len(ej) != 0 {
		t.Errorf("ejections %+v, want none: the node sheds, it does not fail", ej)
	}
	for _, st := range g.resilience.breakers.States() {
		if st.State != "closed" {
			t.Errorf("breaker %+v, want closed", st)
		}
	}
}
