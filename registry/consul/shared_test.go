package consul

import (
	"context"
	"fmt"
	"maps"
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
	asked                     map[string]int // service → its health queries
}

func newCountedConsul() *countedConsul {
	return &countedConsul{fakeConsul: newFakeConsul(), changeEndpoints: make(map[string]bool), asked: make(map[string]int)}
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
	c.mu.Lock()
	c.asked[service]++
	c.mu.Unlock()
	if q.WaitIndex > 0 {
		c.count(&c.blocking, &c.peakBlocking, 1)
		defer c.count(&c.blocking, &c.peakBlocking, -1)
	}
	return c.fakeConsul.Service(service, tag, passingOnly, q)
}

// Query answers checksEndpoint with the checks of the fake's services, on
// its one index. The catalog endpoints' index stays at 1 (their answers
// would tell the shared watch nothing it needs, and move every service):
// the fake's changes reach the Watches through the checks alone.
func (c *countedConsul) Query(endpoint string, out any, q *api.QueryOptions) (*api.QueryMeta, error) {
	c.count(&c.changes, &c.peakChanges, 1)
	defer c.count(&c.changes, &c.peakChanges, -1)
	c.mu.Lock()
	c.changeEndpoints[endpoint] = true
	c.mu.Unlock()
	f := c.fakeConsul
	for {
		f.mu.Lock()
		idx, changed := f.index, f.changed
		if endpoint != checksEndpoint {
			idx = 1
		}
		if q.WaitIndex == 0 || q.WaitIndex != idx {
			if checks, ok := out.(*[]check); ok {
				*checks = f.checksLocked()
			}
			f.mu.Unlock()
			return &api.QueryMeta{LastIndex: idx}, nil
		}
		f.mu.Unlock()
		select {
		case <-changed:
		case <-q.Context().Done():
			return nil, q.Context().Err()
		}
	}
}

// checksLocked returns the check of each registered service, as Consul's
// health/state/any lists them.
func (f *fakeConsul) checksLocked() []check {
	var out []check
	for id, s := range f.services {
		out = append(out, check{Node: "n1", CheckID: CheckID(id), Status: f.status[CheckID(id)], ServiceName: s.Name})
	}
	return out
}

// svcName is the name of the fake's i-th service.
func svcName(i int) string { return fmt.Sprintf("svc-%02d", i) }

// registerServices registers one node of each of n services, svcName(0) to
// svcName(n-1).
func registerServices(t *testing.T, r *Registry, n int) {
	t.Helper()
	for i := range n {
		if err := r.Register(context.Background(), registry.Registration{Node: registry.Node{
			ID: svcName(i) + "-1", Service: svcName(i), Address: "10.0.0.1:80"}}); err != nil {
			t.Fatal(err)
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
	registerServices(t, r, services)
	c := registry.NewCache(r)
	defer c.Close()
	for i := range services {
		if nodes, err := c.Lookup(ctx, svcName(i)); err != nil || len(nodes) != 1 {
			t.Fatalf("Lookup(%s) = %v, %v", svcName(i), nodes, err)
		}
	}
	settled := func() bool {
		blocking, changes := fc.inFlight()
		return blocking == MaxBlockingQueries && changes == len(changeEndpoints)
	}
	waitFor(t, "every watch to wait", settled)

	for i := range services {
		if err := r.Register(ctx, registry.Registration{Node: registry.Node{
			ID: svcName(i) + "-2", Service: svcName(i), Address: "10.0.0.2:80"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range services {
		waitFor(t, "the second node of "+svcName(i), func() bool {
			nodes, err := c.Lookup(ctx, svcName(i))
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

// TestACheckChangeOnTheSharedWatchQueriesOnlyItsService: with every Watch on
// the shared watch, a check of one of 20 services that turns critical, and
// back, costs health queries of that service alone, where every change of
// the catalog asked about every service on the shared watch.
func TestACheckChangeOnTheSharedWatchQueriesOnlyItsService(t *testing.T) {
	const services = 20
	fc := newCountedConsul()
	r := NewFrom(fc, fc.fakeConsul)
	r.shared = newShared(r, fc)
	r.blocking = make(chan struct{}) // no place for a blocking query of its own
	ctx := context.Background()
	registerServices(t, r, services)
	c := registry.NewCache(r, registry.WithDropGrace(0))
	defer c.Close()
	for i := range services {
		if nodes, err := c.Lookup(ctx, svcName(i)); err != nil || len(nodes) != 1 {
			t.Fatalf("Lookup(%s) = %v, %v", svcName(i), nodes, err)
		}
	}
	waiting := func() bool { w, _ := r.shared.settled(services); return w }
	waitFor(t, "every Watch to wait", waiting)
	// Move the index with no change, so that the query on checks, filtered
	// for the first services to join, asks again for all of them.
	fc.fakeConsul.mu.Lock()
	fc.bumpLocked()
	fc.fakeConsul.mu.Unlock()
	waitFor(t, "the shared watch to cover every service", func() bool { w, covered := r.shared.settled(services); return w && covered })

	asked := func() map[string]int {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return maps.Clone(fc.asked)
	}
	before := asked()
	flapped := svcName(7)
	for _, status := range []string{api.HealthCritical, api.HealthPassing} {
		if err := fc.UpdateTTLOpts(CheckID(flapped+"-1"), "", status, nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, flapped+" "+status+" in the cache", func() bool {
			nodes, err := c.Lookup(ctx, flapped)
			return err == nil && (len(nodes) == 1) == (status == api.HealthPassing)
		})
		waitFor(t, "every Watch to wait again", waiting)
	}
	after := asked()
	for i := range services {
		if n := after[svcName(i)] - before[svcName(i)]; svcName(i) != flapped && n != 0 {
			t.Errorf("two changes of %s asked about %s %d times", flapped, svcName(i), n)
		}
	}
	if n := after[flapped] - before[flapped]; n > 4 {
		t.Errorf("two changes of %s asked about it %d times, want at most 4", flapped, n)
	}
}
