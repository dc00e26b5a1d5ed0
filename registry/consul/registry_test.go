package consul

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

func reg(id, addr string) registry.Registration {
	return registry.Registration{Node: registry.Node{ID: id, Service: "api", Address: addr, Version: "1.0.0"}}
}

func TestLookupPassingOnly(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	ctx := context.Background()
	nodes, err := r.Lookup(ctx, "unknown")
	if err != nil || nodes == nil || len(nodes) != 0 {
		t.Fatalf("Lookup(unknown) = %v, %v; want empty non-nil slice", nodes, err)
	}
	if err := r.Register(ctx, reg("a", "10.0.0.5:80")); err != nil {
		t.Fatal(err)
	}
	nodes, err = r.Lookup(ctx, "api")
	if err != nil || len(nodes) != 1 || nodes[0].Address != "10.0.0.5:80" || nodes[0].Version != "1.0.0" {
		t.Fatalf("Lookup = %v, %v; want node a", nodes, err)
	}
	// A critical check hides the node.
	if err := f.UpdateTTLOpts(CheckID("a"), "", api.HealthCritical, nil); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := r.Lookup(ctx, "api"); len(nodes) != 0 {
		t.Fatalf("Lookup with critical check = %v, want none", nodes)
	}
}

func TestWatch(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f, WithWaitTime(time.Minute), WithDatacenter("dc2"))
	ctx := context.Background()

	snap, err := r.Watch(ctx, "api", 0)
	if err != nil || snap.Index == 0 || len(snap.Nodes) != 0 {
		t.Fatalf("Watch(0) = %+v, %v", snap, err)
	}
	type result struct {
		snap registry.Snapshot
		err  error
	}
	got := make(chan result, 1)
	go func() {
		s, err := r.Watch(ctx, "api", snap.Index)
		got <- result{s, err}
	}()
	if err := r.Register(ctx, reg("a", "10.0.0.5:80")); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil || len(res.snap.Nodes) != 1 || res.snap.Index <= snap.Index {
		t.Fatalf("Watch after register = %+v, %v", res.snap, res.err)
	}

	f.mu.Lock()
	last := f.queries[len(f.queries)-1]
	f.mu.Unlock()
	if last.WaitIndex != snap.Index || last.WaitTime != time.Minute || last.Datacenter != "dc2" {
		t.Fatalf("query = index %d wait %s dc %q", last.WaitIndex, last.WaitTime, last.Datacenter)
	}
}

// Discovery reads are stale reads: any server answers them, also while the
// cluster elects a leader.
func TestReadsAreStale(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Watch(ctx, "api", 0); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, q := range f.queries {
		if !q.AllowStale || q.RequireConsistent {
			t.Errorf("query %d: AllowStale %v, RequireConsistent %v; want a stale read", i, q.AllowStale, q.RequireConsistent)
		}
	}
}

func TestWatchContextEnds(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	snap, _ := r.Watch(context.Background(), "api", 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.Watch(ctx, "api", snap.Index)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch after cancel: %v, want context.Canceled", err)
	}
}

// zeroIndex answers every query with index 0, as Consul documents it never does.
type zeroIndex struct{ Health }

func (zeroIndex) Service(string, string, bool, *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	return nil, &api.QueryMeta{}, nil
}

func TestWatchNeverReturnsIndexZero(t *testing.T) {
	r := NewFrom(zeroIndex{}, newFakeConsul())
	snap, err := r.Watch(context.Background(), "api", 0)
	if err != nil || snap.Index != 1 {
		t.Fatalf("Watch = %+v, %v; want index 1", snap, err)
	}
}

func TestRegisterBuildsTTLCheck(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	rg := registry.Registration{Node: registry.Node{Service: "api", Address: "10.0.0.5:80",
		Metadata: map[string]string{"zone": "a"}}}
	if err := r.Register(context.Background(), rg); err != nil {
		t.Fatal(err)
	}
	s, status := f.registration("10.0.0.5:80")
	if s == nil {
		t.Fatal("no registration under the address ID")
	}
	c := s.Check
	if s.Name != "api" || s.Address != "10.0.0.5" || s.Port != 80 || s.Meta["zone"] != "a" {
		t.Fatalf("registration = %+v", s)
	}
	if _, ok := s.Meta[MetaVersion]; ok {
		t.Fatalf("empty version registered: %v", s.Meta)
	}
	if c.CheckID != "service:10.0.0.5:80" || c.TTL != "10s" || c.DeregisterCriticalServiceAfter != "1m0s" || status != api.HealthPassing {
		t.Fatalf("check = %+v, status %q", c, status)
	}
	if err := r.Register(context.Background(), registry.Registration{Node: registry.Node{Service: "api", Address: "nope"}}); !errors.Is(err, registry.ErrInvalidNode) {
		t.Fatalf("Register(invalid) = %v, want ErrInvalidNode", err)
	}
}

func TestDeregister(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	ctx := context.Background()
	if err := r.Register(ctx, reg("a", "10.0.0.5:80")); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, "api", "a"); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := r.Lookup(ctx, "api"); len(nodes) != 0 {
		t.Fatalf("after Deregister: %v", nodes)
	}
	if err := r.Deregister(ctx, "api", "a"); err != nil {
		t.Fatalf("Deregister(unknown) = %v, want nil", err)
	}
	f.mu.Lock()
	f.regErr = api.StatusError{Code: http.StatusInternalServerError}
	f.mu.Unlock()
	if err := r.Register(ctx, reg("a", "10.0.0.5:80")); err == nil {
		t.Fatal("Register hid the agent's error")
	}
}
