package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// waitTimeout bounds every wait for a condition; it is generous so that a
// loaded machine never fails a test that is correct.
const waitTimeout = 10 * time.Second

func node(service, id, addr string) *registry.Node {
	return &registry.Node{Service: service, ID: id, Address: addr}
}

func mustStatic(t *testing.T, nodes ...*registry.Node) *registry.Static {
	t.Helper()
	s, err := registry.NewStatic(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lookup(t *testing.T, s *registry.Static, service string) []*registry.Node {
	t.Helper()
	ns, err := s.Lookup(context.Background(), service)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", service, err)
	}
	return ns
}

func addrs(ns []*registry.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Address
	}
	return out
}

func sameSlice(a, b []*registry.Node) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func TestNewStaticGroupsByService(t *testing.T) {
	a1, b1, a2 := node("a", "1", "10.0.0.1:80"), node("b", "1", "10.0.0.2:80"), node("a", "2", "10.0.0.3:80")
	s := mustStatic(t, a1, b1, a2)
	if got := lookup(t, s, "a"); len(got) != 2 || got[0] != a1 || got[1] != a2 {
		t.Fatalf("Lookup(a) = %v, want [a1 a2] in order", addrs(got))
	}
	if got := lookup(t, s, "b"); len(got) != 1 || got[0] != b1 {
		t.Fatalf("Lookup(b) = %v, want [b1]", addrs(got))
	}
}

func TestNewStaticValidates(t *testing.T) {
	s, err := registry.NewStatic(node("a", "1", "10.0.0.1:80"), node("a", "2", "no-port"))
	if !errors.Is(err, registry.ErrInvalidNode) || s != nil {
		t.Fatalf("NewStatic with a bad node = %v, %v; want nil, ErrInvalidNode", s, err)
	}
}

func TestStaticLookupUnknown(t *testing.T) {
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"))
	if _, err := s.Lookup(context.Background(), "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup(unknown) error = %v, want ErrNotFound", err)
	}
	s.Set("empty", nil)
	if ns, err := s.Lookup(context.Background(), "empty"); err != nil || len(ns) != 0 {
		t.Fatalf("Lookup(set to no nodes) = %v, %v; want no nodes, nil", ns, err)
	}
}

// TestStaticLookupSameSliceUntilChange checks the identity that clients key
// their pickers on: the same backing array until that service changes.
func TestStaticLookupSameSliceUntilChange(t *testing.T) {
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"), node("b", "1", "10.0.0.2:80"))
	first := lookup(t, s, "a")
	if again := lookup(t, s, "a"); !sameSlice(first, again) {
		t.Fatal("two lookups with no change returned different slices")
	}
	s.Set("b", []*registry.Node{node("b", "2", "10.0.0.9:80")})
	if again := lookup(t, s, "a"); !sameSlice(first, again) {
		t.Fatal("a change to another service changed this service's slice")
	}
	s.Set("a", []*registry.Node{node("a", "1", "10.0.0.1:80")})
	if again := lookup(t, s, "a"); sameSlice(first, again) {
		t.Fatal("Set did not produce a new slice")
	}
}

func TestStaticSetCopies(t *testing.T) {
	s := mustStatic(t)
	in := []*registry.Node{node("a", "1", "10.0.0.1:80")}
	s.Set("a", in)
	in[0] = node("a", "x", "10.9.9.9:80")
	if got := lookup(t, s, "a"); got[0].Address != "10.0.0.1:80" {
		t.Fatalf("Set shares the caller's slice: now %v", addrs(got))
	}
}

func TestStaticRegister(t *testing.T) {
	ctx := context.Background()
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"))
	reg := func(n *registry.Node) error { return s.Register(ctx, registry.Registration{Node: *n}) }

	if err := reg(node("a", "2", "10.0.0.2:80")); err != nil {
		t.Fatal(err)
	}
	if err := reg(node("a", "1", "10.0.0.3:80")); err != nil { // same ID, new address
		t.Fatal(err)
	}
	got := lookup(t, s, "a")
	if len(got) != 2 || got[0].Address != "10.0.0.2:80" || got[1].Address != "10.0.0.3:80" {
		t.Fatalf("after re-registering ID 1: %v, want [10.0.0.2:80 10.0.0.3:80]", addrs(got))
	}
	if err := reg(node("new", "", "10.0.0.4:80")); err != nil { // empty ID: keyed by address
		t.Fatal(err)
	}
	if err := reg(node("new", "", "10.0.0.4:80")); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, s, "new"); len(got) != 1 {
		t.Fatalf("registering an ID-less node twice gave %v", addrs(got))
	}
	if err := reg(node("a", "3", "bad")); !errors.Is(err, registry.ErrInvalidNode) {
		t.Fatalf("Register(bad) = %v, want ErrInvalidNode", err)
	}
}

func TestStaticDeregister(t *testing.T) {
	ctx := context.Background()
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"), node("a", "", "10.0.0.2:80"))
	before := lookup(t, s, "a")
	for _, tc := range []struct{ service, id string }{{"nope", "1"}, {"a", "nope"}} {
		if err := s.Deregister(ctx, tc.service, tc.id); err != nil {
			t.Fatalf("Deregister(%s, %s) = %v, want nil", tc.service, tc.id, err)
		}
	}
	if !sameSlice(before, lookup(t, s, "a")) {
		t.Fatal("deregistering unknown nodes changed the service")
	}
	if err := s.Deregister(ctx, "a", "10.0.0.2:80"); err != nil { // ID-less: by address
		t.Fatal(err)
	}
	if err := s.Deregister(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, s, "a"); len(got) != 0 {
		t.Fatalf("after deregistering both nodes: %v", addrs(got))
	}
}

func TestStaticWatchIndexZeroReturnsAtOnce(t *testing.T) {
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a Watch that blocked would return the context's error
	snap, err := s.Watch(ctx, "a", 0)
	if err != nil || snap.Index == 0 || len(snap.Nodes) != 1 {
		t.Fatalf("Watch(0) = %+v, %v; want the current snapshot", snap, err)
	}
	if !sameSlice(snap.Nodes, lookup(t, s, "a")) {
		t.Fatal("Watch and Lookup returned different slices for one snapshot")
	}
}

type watchResult struct {
	snap registry.Snapshot
	err  error
}

// startWatch runs Watch in a goroutine and returns where its result arrives.
func startWatch(ctx context.Context, s *registry.Static, service string, index uint64) <-chan watchResult {
	ch := make(chan watchResult, 1)
	go func() {
		snap, err := s.Watch(ctx, service, index)
		ch <- watchResult{snap, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan watchResult) watchResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("Watch did not return")
		return watchResult{}
	}
}

func TestStaticWatchWakesOnChange(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		change    func(*registry.Static) error
		wantAddrs int
	}{
		{"Set", func(s *registry.Static) error {
			s.Set("a", []*registry.Node{node("a", "9", "10.0.0.9:80")})
			return nil
		}, 1},
		{"Register", func(s *registry.Static) error {
			return s.Register(ctx, registry.Registration{Node: *node("a", "2", "10.0.0.2:80")})
		}, 2},
		{"Deregister", func(s *registry.Static) error { return s.Deregister(ctx, "a", "1") }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStatic(t, node("a", "1", "10.0.0.1:80"), node("b", "1", "10.0.0.5:80"))
			cur, err := s.Watch(ctx, "a", 0)
			if err != nil {
				t.Fatal(err)
			}
			ch := startWatch(ctx, s, "a", cur.Index)
			s.Set("b", nil) // another service's change must not wake it
			select {
			case r := <-ch:
				t.Fatalf("Watch returned %+v, %v before any change", r.snap, r.err)
			default:
			}
			if err := tt.change(s); err != nil {
				t.Fatal(err)
			}
			r := await(t, ch)
			if r.err != nil || r.snap.Index <= cur.Index || len(r.snap.Nodes) != tt.wantAddrs {
				t.Fatalf("Watch after %s = %+v, %v; want %d nodes at an index above %d",
					tt.name, r.snap, r.err, tt.wantAddrs, cur.Index)
			}
			if !sameSlice(r.snap.Nodes, lookup(t, s, "a")) && tt.wantAddrs > 0 {
				t.Fatal("Watch returned a slice that Lookup does not")
			}
		})
	}
}

func TestStaticWatchStaleIndexReturnsAtOnce(t *testing.T) {
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"))
	old, _ := s.Watch(context.Background(), "a", 0)
	s.Set("a", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	snap, err := s.Watch(ctx, "a", old.Index)
	if err != nil || snap.Index <= old.Index {
		t.Fatalf("Watch(stale index) = %+v, %v; want the newer snapshot", snap, err)
	}
}

func TestStaticWatchCancel(t *testing.T) {
	s := mustStatic(t, node("a", "1", "10.0.0.1:80"))
	cur, _ := s.Watch(context.Background(), "a", 0)
	ctx, cancel := context.WithCancel(context.Background())
	ch := startWatch(ctx, s, "a", cur.Index)
	cancel()
	if r := await(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Watch after cancel = %v, want context.Canceled", r.err)
	}
}

// TestStaticWatchUnknownServiceWakesOnRegister checks that a watcher of a
// service nobody has registered yet sees it appear.
func TestStaticWatchUnknownServiceWakesOnRegister(t *testing.T) {
	ctx := context.Background()
	s := mustStatic(t)
	cur, err := s.Watch(ctx, "later", 0)
	if err != nil || len(cur.Nodes) != 0 {
		t.Fatalf("Watch(unknown, 0) = %+v, %v", cur, err)
	}
	ch := startWatch(ctx, s, "later", cur.Index)
	if err := s.Register(ctx, registry.Registration{Node: *node("later", "1", "10.0.0.1:80")}); err != nil {
		t.Fatal(err)
	}
	if r := await(t, ch); r.err != nil || len(r.snap.Nodes) != 1 {
		t.Fatalf("Watch after Register = %+v, %v", r.snap, r.err)
	}
}
