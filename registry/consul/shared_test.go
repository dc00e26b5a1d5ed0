package consul

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// countedConsul is a fakeConsul that also answers the shared watch's
// queries, blocking on its one index as its health queries do, and counts
// the blocking queries in flight, as many as the connections they hold.
type countedConsul struct {
	*fakeConsul
	mu                        sync.Mutex
	blocking, changes         int // in flight
	peakBlocking, peakChanges int
	changeEndpoints           map[string]bool
}

func newCountedConsul() *countedConsul {
	return &countedConsul{fakeConsul: newFakeConsul(), changeEndpoints: make(map[string]bool)}
}

func (c *countedConsul) count(n *int, peak *int, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n += d
	*peak = max(*peak, *n)
}

func (c *countedConsul) inFlight() (blocking, changes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocking, c.changes
}

func (c *countedConsul) Service(service, tag string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	if q.WaitIndex > 0 {
		c.count(&c.blocking, &c.peakBlocking, 1)
		defer c.count(&c.blocking, &c.peakBlocking, -1)
	}
	return c.fakeConsul.Service(service, tag, passingOnly, q)
}

func (c *countedConsul) Query(endpoint string, _ any, q *api.QueryOptions) (*api.QueryMeta, error) {
	c.count(&c.changes, &c.peakChanges, 1)
	defer c.count(&c.changes, &c.peakChanges, -1)
	c.mu.Lock()
	c.changeEndpoints[endpoint+"?filter="+q.Filter] = true
	c.mu.Unlock()
	f := c.fakeConsul
	for {
		f.mu.Lock()
		idx, changed := f.index, f.changed
		f.mu.Unlock()
		if q.WaitIndex == 0 || q.WaitIndex != idx {
			return &api.QueryMeta{LastIndex: idx}, nil
		}
		select {
		case <-changed:
		case <-q.Context().Done():
			return nil, q.Context().Err()
		}
	}
}

// TestServicesPastTheBoundShareOneWatch: a cache over a Registry that
// watches 40 services holds MaxBlockingQueries blocking queries on services
// and the shared watch's three, where it held one per service, one
// connection to the agent each; a change reaches every service, those in
// blocking queries of their own and those on the shared watch alike.
func TestServicesPastTheBoundShareOneWatch(t *testing.T) {
	const services = 40
	fc := newCountedConsul()
	r := NewFrom(fc, fc.fakeConsul)
	r.shared = newShared(r, fc)
	ctx := context.Background()
	name := func(i int) string { return fmt.Sprintf("svc-%02d", i) }
	for i := range services {
		if err := r.Register(ctx, registry.Registration{Node: registry.Node{
			ID: name(i) + "-1", Service: name(i), Address: "10.0.0.1:80"}}); err != nil {
			t.Fatal(err)
		}
	}
	c := registry.NewCache(r)
	defer c.Close()
	for i := range services {
		if nodes, err := c.Lookup(ctx, name(i)); err != nil || len(nodes) != 1 {
			t.Fatalf("Lookup(%s) = %v, %v", name(i), nodes, err)
		}
	}
	settled := func() bool {
		blocking, changes := fc.inFlight()
		return blocking == MaxBlockingQueries && changes == len(changeEndpoints)
	}
	waitFor(t, "every watch to wait", settled)

	for i := range services {
		if err := r.Register(ctx, registry.Registration{Node: registry.Node{
			ID: name(i) + "-2", Service: name(i), Address: "10.0.0.2:80"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range services {
		waitFor(t, "the second node of "+name(i), func() bool {
			nodes, err := c.Lookup(ctx, name(i))
			return err == nil && len(nodes) == 2
		})
	}
	waitFor(t, "every watch to wait again", settled)

	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.peakBlocking > MaxBlockingQueries || fc.peakChanges > len(changeEndpoints) {
		t.Fatalf("%d blocking queries on services and %d on the catalog at once, want at most %d and %d",
			fc.peakBlocking, fc.peakChanges, MaxBlockingQueries, len(changeEndpoints))
	}
	if len(fc.changeEndpoints) != len(changeEndpoints) {
		t.Fatalf("the shared watch asked %v", fc.changeEndpoints)
	}
}
