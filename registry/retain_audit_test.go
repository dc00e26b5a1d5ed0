package registry

import (
	"context"
	"sync"
	"testing"
)

// watchCounting is a backend whose Watch calls in progress are counted per
// service.
type watchCounting struct {
	Registry
	mu      sync.Mutex
	running map[string]int
}

func (w *watchCounting) Watch(ctx context.Context, service string, index uint64) (Snapshot, error) {
	w.mu.Lock()
	w.running[service]++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running[service]--
		w.mu.Unlock()
	}()
	return w.Registry.Watch(ctx, service, index)
}

func (w *watchCounting) watching(service string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[service]
}

// TestAuditRetainStopsTheWatchOfAForgottenService: a service that nothing
// asks for any more stops being watched (its blocking query ends), and
// leaves Status; looked up again, it is watched afresh; a Watch of the
// cache under way on it goes on, on the new watch.
func TestAuditRetainStopsTheWatchOfAForgottenService(t *testing.T) {
	st, _ := NewStatic(node("a"), &Node{ID: "b", Service: "other", Address: "10.0.0.2:80"})
	b := &watchCounting{Registry: st, running: map[string]int{}}
	c := newTestCache(t, b)
	mustLookup(t, c, "api")
	mustLookup(t, c, "other")
	eventually(t, "both watches to block", func() bool { return b.watching("api") == 1 && b.watching("other") == 1 })
	snap, err := c.Watch(context.Background(), "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan Snapshot, 1)
	go func() {
		// As every watcher does, it watches on from each answer: the
		// Retain below may forget api's entry under it, and the entry
		// made again starts its versions past the forgotten ones, so a
		// Watch may wake once with the same nodes before the change.
		idx := snap.Index
		for {
			s, err := c.Watch(context.Background(), "api", idx)
			if err != nil || len(s.Nodes) != len(snap.Nodes) {
				if err != nil {
					t.Error(err)
				}
				woke <- s
				return
			}
			idx = s.Index
		}
	}()

	c.Retain(func(service string) bool { return service == "other" })
	if s := c.Status(); len(s) != 1 || s[0].Service != "other" {
		// The Watch under way may have started api's watch again.
		if len(s) != 2 {
			t.Fatalf("Status after Retain(other) = %+v", s)
		}
	}
	st.Set("api", []*Node{node("a"), node("bb")})
	if s := <-woke; len(s.Nodes) != 2 {
		t.Fatalf("the Watch under way saw %v, want the new nodes", s.Nodes)
	}
	c.Retain(func(service string) bool { return service == "other" })
	eventually(t, "api's watch to end", func() bool { return b.watching("api") == 0 })
	if s := c.Status(); len(s) != 1 || s[0].Service != "other" {
		t.Fatalf("Status after Retain(other) = %+v, want other only", s)
	}
	if b.watching("other") != 1 {
		t.Fatal("Retain stopped the watch of a service it keeps")
	}
	if got := mustLookup(t, c, "api"); len(got) != 2 {
		t.Fatalf("Lookup of a forgotten service = %v, want its 2 nodes", got)
	}
	eventually(t, "api to be watched again", func() bool { return b.watching("api") == 1 })
}
