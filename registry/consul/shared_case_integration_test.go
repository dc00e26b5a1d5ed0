package consul

import (
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// TestIntegrationAServiceWatchedInAnotherCaseSeesItsChecksChange: Consul
// matches a service's name without regard to case (a route's "Web" finds
// the instances of "web"), but its checks carry the name their instances
// are registered under, and the shared watch's filter and its waking of
// Watches compared names as they are: no change of the checks of "Web"'s
// instances, nor of their nodes', reached its Watch before the wait time
// (a minute by default), where a Watch of its own, and the shared watch
// before it read checks, saw each at once. Each change must reach the
// cache long before the wait time (ten minutes here), in both modes.
func TestIntegrationAServiceWatchedInAnotherCaseSeesItsChecksChange(t *testing.T) {
	for mode, maxFilter := range map[string]int{"filtered": maxChecksFilter, "probing": 0} {
		t.Run(mode, func(t *testing.T) { aServiceWatchedInAnotherCase(t, maxFilter) })
	}
}

func aServiceWatchedInAnotherCase(t *testing.T, maxFilter int) {
	agent := consultest.Start(t)
	setup := agent.Client()
	web := func(id string, port int) *api.AgentService {
		return &api.AgentService{ID: id, Service: "web", Port: port}
	}
	putNode(t, setup, "n1", "127.0.0.1", api.HealthPassing)
	putInstance(t, setup, "n1", "127.0.0.1", web("web-1", 9001), api.HealthPassing)
	putInstance(t, setup, "n2", "127.0.0.2", web("web-2", 9002), api.HealthPassing)
	nudge(t, setup)

	r, _ := sharedRegistry(t, agent)
	r.blocking = make(chan struct{}) // every Watch on the shared watch
	r.shared.maxFilter = maxFilter
	cache := registry.NewCache(r, registry.WithDropGrace(0))
	defer cache.Close()
	nodes := func() map[string]*registry.Node { return nodesIn(t, cache, "Web") }
	if got := nodes(); len(got) != 2 {
		t.Fatalf("Web has %d nodes, want web's 2", len(got))
	}
	settle(t, r, 1, setup)
	step := func(what string, change func(), id string, present bool) {
		t.Helper()
		changeReaches(t, what, change, func() bool { _, ok := nodes()[id]; return ok == present }, func() any { return nodes() })
	}
	step("web-2's check turned critical", func() {
		putInstance(t, setup, "n2", "127.0.0.2", web("web-2", 9002), api.HealthCritical)
	}, "web-2", false)
	step("web-2's check turned passing", func() {
		putInstance(t, setup, "n2", "127.0.0.2", web("web-2", 9002), api.HealthPassing)
	}, "web-2", true)
	step("n1's node check turned critical", func() { putNode(t, setup, "n1", "127.0.0.1", api.HealthCritical) }, "web-1", false)
	step("n1's node check turned passing", func() { putNode(t, setup, "n1", "127.0.0.1", api.HealthPassing) }, "web-1", true)
}
