package main

import (
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// TestAuditADroppedServiceIsNoLongerWatched: with Consul as the registry,
// the first request to a service starts a watch of it. A reload that
// drops every route to the service left that watch running for as long
// as the process: a blocking query a minute on a service nobody routes
// to, a goroutine, its line in /admin/registry and its
// sluice_discovery_* series, which kept reporting it (nodes 0 once it was
// deregistered, failing during an outage of Consul) to alerts, for every
// service ever routed to. A service routed to again is watched afresh.
func TestAuditADroppedServiceIsNoLongerWatched(t *testing.T) {
	agent := consultest.Start(t)
	host, port, _ := net.SplitHostPort(echoBackend(t))
	p, _ := strconv.Atoi(port)
	for _, name := range []string{"old", "new"} {
		if err := agent.Client().Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: name + "-1", Name: name, Address: host, Port: p}); err != nil {
			t.Fatal(err)
		}
	}
	text := func(service string) string {
		return `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
registry:
  kind: consul
  consul: {address: "` + agent.Addr() + `"}
routes:
  - {name: r, path: /r, service: ` + service + `}
`
	}
	cfg, _ := loadFile(t, text("old"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	g.accessLogger = nil
	cache := g.registry.(*registry.Cache)
	t.Cleanup(func() { cache.Close() })
	h := g.handler()
	watched := func(service string) bool {
		for _, st := range cache.Status() {
			if st.Service == service {
				return true
			}
		}
		return false
	}
	if rec := get(h, "/r"); rec.Code != http.StatusOK {
		t.Fatalf("/r to old: %d", rec.Code)
	}
	if !watched("old") {
		t.Fatal("old is not watched after a request")
	}

	next, _ := loadFile(t, text("new"))
	g.applyLoaded(loaded{cfg: next, hash: next.Hash()}, true)
	if rec := get(h, "/r"); rec.Code != http.StatusOK {
		t.Fatalf("/r to new: %d", rec.Code)
	}
	if watched("old") {
		t.Error("a service no route leads to any more is still watched")
	}
	if _, ok := discoverySample(t, g.promReg, "sluice_discovery_nodes", "old"); ok {
		t.Error("sluice_discovery_nodes still reports a service no route leads to")
	}

	back, _ := loadFile(t, text("old"))
	g.applyLoaded(loaded{cfg: back, hash: back.Hash()}, true)
	if rec := get(h, "/r"); rec.Code != http.StatusOK {
		t.Fatalf("/r to old again: %d", rec.Code)
	}
	if !watched("old") || watched("new") {
		t.Errorf("after routing to old again: watched old %v, new %v; want old only", watched("old"), watched("new"))
	}
}
