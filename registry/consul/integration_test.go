package consul_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// These tests run against a real Consul agent; they skip when the binary has not
// been built (scripts/consul.sh build), and fail then when CI is set.

// eventually polls cond until it holds or a generous deadline passes, and
// returns how long that took, for logs. It makes no timing assertion.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// counter is a RoundTripper that counts the health queries it carries.
type counter struct {
	next   http.RoundTripper
	health atomic.Int64
	// moved counts the blocking health queries that returned because the
	// index moved (the agent's own anti-entropy moves it too, on no change
	// of the test's): each is followed by the next query.
	moved atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/v1/health/service/") {
		return c.next.RoundTrip(r)
	}
	c.health.Add(1)
	resp, err := c.next.RoundTrip(r)
	if index := r.URL.Query().Get("index"); err == nil && index != "" && resp.Header.Get("X-Consul-Index") != index {
		c.moved.Add(1)
	}
	return resp, err
}

// newRegistry returns a Registry on agent and the counter of its health queries.
func newRegistry(t *testing.T, agent *consultest.Agent, opts ...consul.Option) (*consul.Registry, *counter) {
	t.Helper()
	cfg := agent.Config()
	cnt := &counter{next: cfg.Transport}
	cfg.HttpClient = &http.Client{Transport: cnt}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return consul.New(c, opts...), cnt
}

func lookup(t *testing.T, r registry.Registry, service string) []*registry.Node {
	t.Helper()
	nodes, err := r.Lookup(context.Background(), service)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", service, err)
	}
	return nodes
}

func has(nodes []*registry.Node, id string) bool {
	for _, n := range nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

func registration(id, addr string, ttl time.Duration) registry.Registration {
	return registry.Registration{
		Node: registry.Node{ID: id, Service: "api", Address: addr, Version: "1.4.2",
			Metadata: map[string]string{"zone": "a"}},
		TTL: ttl,
	}
}

func TestIntegrationAnnounceIsVisible(t *testing.T) {
	agent := consultest.Start(t)
	r, _ := newRegistry(t, agent)
	ctx := context.Background()
	if nodes := lookup(t, r, "api"); nodes == nil || len(nodes) != 0 {
		t.Fatalf("unknown service: %#v, want an empty slice", nodes)
	}
	a, err := r.Announce(ctx, registration("api-1", "127.0.0.1:9001", 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Announce returns once the agent accepted the registration; the catalog
	// follows through the agent's sync.
	eventually(t, "api-1 passing", func() bool { return has(lookup(t, r, "api"), "api-1") })
	n := lookup(t, r, "api")[0]
	if n.Address != "127.0.0.1:9001" || n.Version != "1.4.2" || n.Datacenter != "dc1" || n.Metadata["zone"] != "a" {
		t.Fatalf("node = %+v", n)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api-1 gone", func() bool { return len(lookup(t, r, "api")) == 0 })
}

func TestIntegrationWatchWakesOnRegistration(t *testing.T) {
	agent := consultest.Start(t)
	r, cnt := newRegistry(t, agent) // default wait: five minutes
	ctx := context.Background()
	snap, err := r.Watch(ctx, "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		snap registry.Snapshot
		err  error
	}
	got := make(chan result, 1)
	before := cnt.health.Load()
	watch := func(index uint64) {
		go func() {
			s, err := r.Watch(ctx, "api", index)
			got <- result{s, err}
		}()
	}
	watch(snap.Index)
	// Make sure the blocking query is in flight before the change.
	eventually(t, "the blocking query", func() bool { return cnt.health.Load() == before+1 })
	if err := r.Register(ctx, registration("api-1", "127.0.0.1:9001", time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A freshly started agent may move the index for its own sake (its
	// node's sync) while the query waits: Consul's blocking queries can
	// wake with no change to the service. Each wake must move the index,
	// and the registration must be seen within a few round trips, long
	// before the five-minute wait would end.
	deadline := time.After(time.Minute)
	for rounds := 1; ; rounds++ {
		var res result
		select {
		case res = <-got:
		case <-deadline:
			t.Fatal("the watch did not wake with api-1 within a minute (its wait is five)")
		}
		if res.err != nil || res.snap.Index <= snap.Index {
			t.Fatalf("Watch = %+v, %v; want a later index than %d", res.snap, res.err, snap.Index)
		}
		if has(res.snap.Nodes, "api-1") {
			if n := cnt.health.Load() - before; n != int64(rounds) || rounds > 3 {
				t.Fatalf("the watch took %d requests over %d wakes, want one per wake and at most 3", n, rounds)
			}
			return
		}
		snap = res.snap
		watch(snap.Index)
	}
}

func TestIntegrationTTLExpires(t *testing.T) {
	agent := consultest.Start(t)
	r, _ := newRegistry(t, agent)
	// Register without heartbeats: the TTL check starts passing, then lapses.
	if err := r.Register(context.Background(), registration("api-1", "127.0.0.1:9001", time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api-1 passing", func() bool { return has(lookup(t, r, "api"), "api-1") })
	took := eventually(t, "api-1 to leave passing lookups", func() bool { return len(lookup(t, r, "api")) == 0 })
	t.Logf("node left passing lookups %s after it was seen passing (TTL 1s)", took.Round(time.Millisecond))

	// Still in the catalog, critical, until DeregisterCriticalAfter.
	entries, _, err := agent.Client().Health().Service("api", "", false, nil)
	if err != nil || len(entries) != 1 || entries[0].Checks.AggregatedStatus() != api.HealthCritical {
		t.Fatalf("all entries = %v, %v; want api-1 critical", entries, err)
	}
}

func TestIntegrationReregistersAfterAgentRestart(t *testing.T) {
	agent := consultest.Start(t)
	r, _ := newRegistry(t, agent)
	ctx := context.Background()
	a, err := r.Announce(ctx, registration("api-1", "127.0.0.1:9001", 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	eventually(t, "api-1 passing", func() bool { return has(lookup(t, r, "api"), "api-1") })

	agent.Restart() // a dev agent forgets everything
	took := eventually(t, "api-1 re-registered", func() bool {
		nodes, err := r.Lookup(ctx, "api")
		return err == nil && has(nodes, "api-1")
	})
	t.Logf("re-registered %s after the agent came back (heartbeat ~1s)", took.Round(time.Millisecond))

	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api-1 gone", func() bool { return len(lookup(t, r, "api")) == 0 })
}
