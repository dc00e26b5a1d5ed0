package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// discoverySample returns the value of the discovery gauge name for
// service in reg, and whether it is there.
func discoverySample(t *testing.T, reg prometheus.Gatherer, name, service string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestDiscoveryMetricsShowAConsulOutage: with Consul as the registry, the
// discovery gauges show a service's watch as it is: its nodes and last
// success while Consul answers; when the agent dies, the time it has been
// failing grows while the last nodes keep serving the route; when it comes
// back, the watch is healthy again. Before, nothing in /metrics told that
// discovery had stopped (only /admin/registry, to whoever asked).
func TestDiscoveryMetricsShowAConsulOutage(t *testing.T) {
	agent := consultest.Start(t)
	host, port, _ := net.SplitHostPort(echoBackend(t))
	p, _ := strconv.Atoi(port)
	register := func() {
		t.Helper()
		if err := agent.Client().Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: "svc-1", Name: "svc", Address: host, Port: p}); err != nil {
			t.Fatal(err)
		}
	}
	register()
	cfg, _ := loadFile(t, `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
registry:
  kind: consul
  consul: {address: "`+agent.Addr()+`"}
routes:
  - {name: svc, path: /svc, service: svc}
`)
	g, err := newGateway(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.accessLogger = nil
	t.Cleanup(func() { g.registry.(interface{ Close() error }).Close() })
	h := g.handler()
	gauge := func(name string) float64 {
		t.Helper()
		v, ok := discoverySample(t, g.promReg, name, "svc")
		if !ok {
			t.Fatalf("%s{service=svc} is not exported", name)
		}
		return v
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 30s for %s", what)
			}
			time.Sleep(20 * time.Millisecond) // polling the cache's watch
		}
	}

	if rec := get(h, "/svc"); rec.Code != http.StatusOK {
		t.Fatalf("with Consul up: %d, want 200", rec.Code)
	}
	if n := gauge("sluice_discovery_nodes"); n != 1 {
		t.Errorf("sluice_discovery_nodes = %v, want 1", n)
	}
	last := gauge("sluice_discovery_last_success_timestamp_seconds")
	if age := float64(time.Now().UnixNano())/1e9 - last; age < 0 || age > 60 {
		t.Errorf("sluice_discovery_last_success_timestamp_seconds is %v s ago, want within the last minute", age)
	}
	if f := gauge("sluice_discovery_failing_seconds"); f != 0 {
		t.Errorf("sluice_discovery_failing_seconds = %v with Consul up, want 0", f)
	}

	agent.Stop()
	until("the watch to fail with Consul down", func() bool { return gauge("sluice_discovery_failing_seconds") > 0 })
	if rec := get(h, "/svc"); rec.Code != http.StatusOK {
		t.Errorf("with Consul down: %d, want 200 from the last snapshot", rec.Code)
	}
	if n := gauge("sluice_discovery_nodes"); n != 1 {
		t.Errorf("sluice_discovery_nodes = %v with Consul down, want the last snapshot's 1", n)
	}
	if l := gauge("sluice_discovery_last_success_timestamp_seconds"); l > last+60 {
		t.Errorf("the last success moved from %v to %v with Consul down", last, l)
	}

	agent.Restart() // a dev agent restarts with an empty catalog
	register()
	until("the watch to recover", func() bool {
		return gauge("sluice_discovery_failing_seconds") == 0 && gauge("sluice_discovery_nodes") == 1
	})
	if rec := get(h, "/svc"); rec.Code != http.StatusOK {
		t.Errorf("with Consul back: %d, want 200", rec.Code)
	}
}

// watchedCache returns a registry cache over a static registry, watching
// one service, svc; it closes with the test.
func watchedCache(t *testing.T) *registry.Cache {
	t.Helper()
	static, err := registry.NewStatic(&registry.Node{Service: "svc", ID: "svc-1", Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	cache := registry.NewCache(static)
	t.Cleanup(func() { cache.Close() })
	if _, err := cache.Lookup(context.Background(), "svc"); err != nil {
		t.Fatal(err)
	}
	return cache
}

// TestDiscoveryMetricsLintClean: the discovery gauges pass promtool's
// checks (client_golang's promlint), as the rest of /metrics does
// (TestMetricsLintClean, which runs without Consul).
func TestDiscoveryMetricsLintClean(t *testing.T) {
	cache := watchedCache(t)
	problems, err := testutil.CollectAndLint(newDiscoveryMetrics(cache))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(newDiscoveryMetrics(cache)); n != 4 {
		t.Errorf("%d series for one service, want 4", n)
	}
}
