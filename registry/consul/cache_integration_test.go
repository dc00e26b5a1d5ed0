package consul_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

func TestIntegrationCacheRidesOutConsulRestart(t *testing.T) {
	agent := consultest.Start(t)
	r, _ := newRegistry(t, agent)
	ctx := context.Background()
	a, err := r.Announce(ctx, registration("api-1", "127.0.0.1:9001", 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	c := registry.NewCache(r)
	defer c.Close()
	eventually(t, "api-1 in the cache", func() bool { return has(lookup(t, c, "api"), "api-1") })
	served := lookup(t, c, "api")

	agent.Stop()
	eventually(t, "the cache to notice the outage", func() bool {
		age, ok := c.Stale("api")
		return ok && age > 0
	})
	if got := lookup(t, c, "api"); len(got) != len(served) || &got[0] != &served[0] {
		t.Fatalf("during the outage Lookup = %v, want the last good slice", got)
	}

	agent.Restart()
	if err := r.Register(ctx, registration("api-2", "127.0.0.1:9002", time.Minute)); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "api-2 in the cache", func() bool { return has(lookup(t, c, "api"), "api-2") })
	t.Logf("change after restart visible through the cache in %s (back-off cap %s)", took.Round(time.Millisecond), registry.DefaultBackoffMax)
	eventually(t, "api-1 back too", func() bool { return has(lookup(t, c, "api"), "api-1") })
	if age, ok := c.Stale("api"); !ok || age != 0 {
		t.Fatalf("Stale after re-sync = %s, %v", age, ok)
	}
}

// TestIntegrationCacheRequestsDoNotGrowWithLookups spreads 10, then 10,000
// lookups over the same window and counts the health queries Consul sees,
// less those that follow a move of the index: a cache asks once, then keeps
// one blocking query open, and asks again only when the index moves, which
// the agent's own anti-entropy does now and then in either window.
func TestIntegrationCacheRequestsDoNotGrowWithLookups(t *testing.T) {
	agent := consultest.Start(t)
	ctx := context.Background()
	setup, _ := newRegistry(t, agent)
	if err := setup.Register(ctx, registration("api-1", "127.0.0.1:9001", time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api-1 passing", func() bool { return has(lookup(t, setup, "api"), "api-1") })

	const window = time.Second
	requests := func(lookups int) int64 {
		r, cnt := newRegistry(t, agent)
		c := registry.NewCache(r)
		defer c.Close()
		start := time.Now()
		for i := range lookups {
			// Pace the lookups evenly over the window.
			if d := time.Duration(i) * window / time.Duration(lookups); time.Since(start) < d {
				time.Sleep(d - time.Since(start))
			}
			if len(lookup(t, c, "api")) != 1 {
				t.Fatal("lost api-1")
			}
		}
		time.Sleep(window - time.Since(start)) // the same window for both runs
		t.Logf("%d lookups: %d health queries, %d after a move of the index", lookups, cnt.health.Load(), cnt.moved.Load())
		return cnt.health.Load() - cnt.moved.Load()
	}
	few, many := requests(10), requests(10_000)
	if many != few || many > 2 {
		t.Fatalf("requests grew with lookups: %d for 10, %d for 10,000, besides those after a move of the index", few, many)
	}
}
