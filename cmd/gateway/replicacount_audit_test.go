package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/redislimit"
	"github.com/sluicehq/sluice/redislimit/redistest"
)

// reloadableGateway starts a gateway on the configuration text(first),
// written to a file, and returns it with its log and a function that
// writes text(v) to the file and reloads it, forced, as SIGHUP does (the
// caller waits for the outcome in the log).
func reloadableGateway(t *testing.T, text func(string) string, first string) (*gateway, *logBuffer, func(v string)) {
	t.Helper()
	cfg, path := loadFile(t, text(first))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return g, logs, func(v string) {
		t.Helper()
		writeFile(t, path, text(v))
		g.reload(func() (*config.Config, error) { return config.Load(path) })
	}
}

// replicaCountGateway starts a gateway whose route /api has a global,
// fail-open limit of 100 req/s in bursts of 100, with the replicas counted
// through srv, and a second replica beside it (a store counting as
// "other"); it returns once the gateway counts 2, with a function that
// reloads the gateway with redis.timeout set to timeout.
func replicaCountGateway(t *testing.T, srv *redistest.Server) (*gateway, func(timeout string)) {
	t.Helper()
	backend := echoBackend(t)
	g, logs, reload := reloadableGateway(t, func(timeout string) string {
		return configText(backend, `  - {name: api, path: /api, service: svc, rate_limit: {rps: 100, burst: 100, global: true}}
`) + "redis: {address: \"" + srv.Addr + "\", timeout: " + timeout + ", cooldown: 1s}\n"
	}, "50ms")
	other, err := redislimit.New(redislimit.Options{Addr: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	other.CountReplicas("other")
	deadline := time.Now().Add(15 * time.Second)
	for g.edge.global.current.Load().Replicas() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway counts %d replicas, want 2", g.edge.global.current.Load().Replicas())
		}
		time.Sleep(20 * time.Millisecond) // polling the condition: the next heartbeat
	}
	reloads := 0
	return g, func(timeout string) {
		t.Helper()
		reload(timeout)
		reloads++
		logs.waitFor(t, "configuration reloaded", reloads)
	}
}

// TestAReloadWhileRedisIsAwayKeepsTheReplicaCount: two replicas share a
// global limit of burst 100; Redis stops; a reload changes the redis
// block (a new store). The new store goes on with the count of 2, so the
// replica's fail-open share is half the limit, as it was before the
// reload. Before, the new store had never counted and assumed it was
// alone: each replica's share was the whole limit, and the fleet admitted
// twice the limit (measured: 100 of 100 requests at once admitted by one
// replica after the reload; with the count kept, 55 to 66).
func TestAReloadWhileRedisIsAwayKeepsTheReplicaCount(t *testing.T) {
	srv := redistest.Start(t)
	g, reload := replicaCountGateway(t, srv)
	srv.Pause(t)
	defer srv.Resume(t)
	reload("40ms")
	if n := g.edge.global.current.Load().Replicas(); n != 2 {
		t.Errorf("after a reload with Redis stopped the gateway counts %d replicas, want the last count, 2", n)
	}
	if len(g.edge.global.shares) != 1 {
		t.Fatalf("%d fail-open shares, want 1", len(g.edge.global.shares))
	}
	for _, share := range g.edge.global.shares {
		if got := share.Settings(); got.RPS != 50 || got.Burst != 50 {
			t.Errorf("the replica's share after the reload: %v req/s in bursts of %d, want 50 and 50 (half the limit)", got.RPS, got.Burst)
		}
	}
	// What clients see (logged, not asserted: the share refills while
	// the first decisions wait for the timeout): about 50 of 100 requests
	// at once admitted.
	h := g.handler()
	admitted := 0
	for range 100 {
		if get(h, "/api").Code == http.StatusOK {
			admitted++
		}
	}
	t.Logf("%d of 100 requests at once admitted by one of 2 replicas with Redis stopped", admitted)
}

// TestReloadsDoNotCountTheReplicaAgain: a gateway says it is alive under
// one name, whichever store (redis block) it has: 20 reloads that change
// the block leave the count at 2. Before, each new store counted as a
// new replica until the old one's heartbeats were 3 s old (measured: 22
// after 20 reloads), so a Redis that went away then left every replica
// with a twentieth of its share.
func TestReloadsDoNotCountTheReplicaAgain(t *testing.T) {
	srv := redistest.Start(t)
	g, reload := replicaCountGateway(t, srv)
	for i := range 20 {
		reload(fmt.Sprintf("%dms", 40+i))
	}
	if n := g.edge.global.current.Load().Replicas(); n != 2 {
		t.Errorf("after 20 reloads the gateway counts %d replicas, want 2", n)
	}
	if n := srv.Do(t, "ZCARD", redislimit.DefaultPrefix+"replicas"); n != ":2" {
		t.Errorf("ZCARD of the replica set %s, want :2", n)
	}
}
