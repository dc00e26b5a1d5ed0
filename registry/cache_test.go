package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond until it holds or a generous deadline passes. It waits
// for a condition; it asserts nothing about timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// manualClock is a clock that moves only when the test advances it.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []clockWaiter
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_000_000, 0)} }

func (m *manualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *manualClock) After(d time.Duration) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- m.now
		return ch
	}
	m.waiters = append(m.waiters, clockWaiter{m.now.Add(d), ch})
	return ch
}

func (m *manualClock) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	kept := m.waiters[:0]
	for _, w := range m.waiters {
		if w.at.After(m.now) {
			kept = append(kept, w)
		} else {
			w.ch <- m.now
		}
	}
	m.waiters = kept
}

func (m *manualClock) pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

var errDown = errors.New("backend down")

// flaky wraps a Registry: it counts Watch calls and, while down, fails them,
// including those already blocked.
type flaky struct {
	Registry
	mu      sync.Mutex
	down    bool
	downCh  chan struct{} // closed when the backend goes down
	watches map[string]int
	initial atomic.Int64 // Watch calls with index zero
}

func newFlaky(r Registry) *flaky {
	return &flaky{Registry: r, downCh: make(chan struct{}), watches: make(map[string]int)}
}

func (f *flaky) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if down && !f.down {
		close(f.downCh)
	} else if !down && f.down {
		f.downCh = make(chan struct{})
	}
	f.down = down
}

func (f *flaky) watchCount(service string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watches[service]
}

func (f *flaky) Watch(ctx context.Context, service string, index uint64) (Snapshot, error) {
	f.mu.Lock()
	f.watches[service]++
	down, downCh := f.down, f.downCh
	f.mu.Unlock()
	if index == 0 {
		f.initial.Add(1)
	}
	if down {
		return Snapshot{}, errDown
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-downCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	snap, err := f.Registry.Watch(ctx, service, index)
	select {
	case <-downCh:
		return Snapshot{}, errDown
	default:
		return snap, err
	}
}

func node(id string) *Node {
	return &Node{ID: id, Service: "api", Address: "10.0.0.1:" + fmt.Sprint(8000+len(id))}
}

func newTestCache(t *testing.T, backend Registry, opts ...CacheOption) *Cache {
	t.Helper()
	c := NewCache(backend, opts...)
	t.Cleanup(func() { c.Close() })
	return c
}

func mustLookup(t *testing.T, c *Cache, service string) []*Node {
	t.Helper()
	nodes, err := c.Lookup(context.Background(), service)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", service, err)
	}
	return nodes
}

func same(a, b []*Node) bool { return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) }

func TestCacheServesSameSliceUntilChange(t *testing.T) {
	st, _ := NewStatic(node("a"))
	c := newTestCache(t, st)
	first := mustLookup(t, c, "api")
	if len(first) != 1 || !same(first, mustLookup(t, c, "api")) {
		t.Fatalf("Lookup = %v, want the same one-node slice twice", first)
	}

	// Equal nodes under a new backend index keep the slice.
	st.Set("api", []*Node{node("a")})
	eventually(t, "cache to see backend index 2", func() bool { return c.Status()[0].Index == 2 })
	if !same(first, mustLookup(t, c, "api")) {
		t.Fatal("equal nodes replaced the slice")
	}

	st.Set("api", []*Node{node("a"), node("bb")})
	eventually(t, "two nodes", func() bool { return len(mustLookup(t, c, "api")) == 2 })
	if len(first) != 1 {
		t.Fatal("the old slice was modified")
	}
}

func TestCacheWatchesOnlyWhatIsLookedUpOnce(t *testing.T) {
	st, _ := NewStatic(node("a"), &Node{Service: "other", Address: "10.0.0.2:80"})
	f := newFlaky(st)
	c := newTestCache(t, f)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); mustLookup(t, c, "api") }()
	}
	wg.Wait()
	if n := f.initial.Load(); n != 1 {
		t.Fatalf("50 concurrent first lookups made %d initial requests, want 1", n)
	}
	for range 1000 {
		mustLookup(t, c, "api")
	}
	// One initial request plus the blocking watch that follows it.
	eventually(t, "the blocking watch", func() bool { return f.watchCount("api") == 2 })
	if n := f.watchCount("api"); n != 2 {
		t.Fatalf("watch requests for api = %d, want 2", n)
	}
	if n := f.watchCount("other"); n != 0 {
		t.Fatalf("service never looked up was watched %d times", n)
	}
}

func TestCacheServesStaleThroughOutage(t *testing.T) {
	st, _ := NewStatic(node("a"))
	f := newFlaky(st)
	clock := newManualClock()
	c := newTestCache(t, f, WithClock(clock.Now, clock.After), WithMaxStale(time.Minute))
	before := mustLookup(t, c, "api")

	f.setDown(true)
	eventually(t, "the failure to be recorded", func() bool { return c.Status()[0].LastError != nil })
	if !same(before, mustLookup(t, c, "api")) {
		t.Fatal("outage changed the served nodes")
	}
	clock.Advance(30 * time.Second)
	if age, ok := c.Stale("api"); !ok || age < 30*time.Second {
		t.Fatalf("Stale = %s, %v; want ≥30s, true", age, ok)
	}
	if _, err := c.Lookup(context.Background(), "api"); err != nil {
		t.Fatalf("Lookup within MaxStale: %v", err)
	}
	clock.Advance(31 * time.Second)
	_, err := c.Lookup(context.Background(), "api")
	if !errors.Is(err, ErrStale) || !errors.Is(err, errDown) {
		t.Fatalf("Lookup beyond MaxStale = %v, want ErrStale wrapping the backend error", err)
	}

	f.setDown(false)
	st.Set("api", []*Node{node("a"), node("bb")})
	// Each advance fires whatever back-off the watch waits in.
	eventually(t, "re-sync", func() bool {
		clock.Advance(DefaultBackoffMax)
		nodes, err := c.Lookup(context.Background(), "api")
		return err == nil && len(nodes) == 2
	})
	if age, ok := c.Stale("api"); !ok || age != 0 {
		t.Fatalf("Stale after re-sync = %s, %v", age, ok)
	}
}

func TestCacheFirstFetchFails(t *testing.T) {
	st, _ := NewStatic(node("a"))
	f := newFlaky(st)
	f.setDown(true)
	clock := newManualClock()
	c := newTestCache(t, f, WithClock(clock.Now, clock.After))
	if _, err := c.Lookup(context.Background(), "api"); !errors.Is(err, errDown) || errors.Is(err, ErrStale) {
		t.Fatalf("Lookup with the backend down from the start = %v", err)
	}
	if _, ok := c.Stale("api"); ok {
		t.Fatal("Stale reports a snapshot that never existed")
	}
	// Failing lookups do not add requests: only the back-off does.
	n := f.watchCount("api")
	for range 100 {
		c.Lookup(context.Background(), "api")
	}
	if f.watchCount("api") != n {
		t.Fatal("lookups of a failing service reached the backend")
	}
	f.setDown(false)
	eventually(t, "first sync", func() bool {
		clock.Advance(DefaultBackoffMax)
		_, err := c.Lookup(context.Background(), "api")
		return err == nil
	})
}

func TestCacheHoldsDropToZero(t *testing.T) {
	st, _ := NewStatic(node("a"))
	clock := newManualClock()
	c := newTestCache(t, st, WithClock(clock.Now, clock.After), WithDropGrace(5*time.Second))
	good := mustLookup(t, c, "api")

	st.Set("api", nil)
	eventually(t, "the drop to be held", func() bool { return c.Status()[0].HoldingDrop })
	clock.Advance(4 * time.Second)
	if !same(good, mustLookup(t, c, "api")) {
		t.Fatal("drop served within the grace period")
	}
	st.Set("api", []*Node{node("a")}) // back, equal: a glitch
	eventually(t, "recovery", func() bool { return !c.Status()[0].HoldingDrop })
	if !same(good, mustLookup(t, c, "api")) {
		t.Fatal("a held glitch replaced the slice")
	}

	st.Set("api", nil)
	eventually(t, "the drop to be held", func() bool { return c.Status()[0].HoldingDrop })
	snap, err := c.Watch(context.Background(), "api", 0)
	if err != nil || !same(snap.Nodes, good) {
		t.Fatalf("Watch(0) while holding = %v, %v", snap, err)
	}
	woke := make(chan Snapshot, 1)
	go func() {
		s, _ := c.Watch(context.Background(), "api", snap.Index)
		woke <- s
	}()
	eventually(t, "the watch to wait for the grace period", func() bool { return clock.pending() == 1 })
	clock.Advance(5 * time.Second)
	if s := <-woke; len(s.Nodes) != 0 || s.Index == snap.Index {
		t.Fatalf("Watch after the grace period = %+v", s)
	}
	if nodes := mustLookup(t, c, "api"); len(nodes) != 0 {
		t.Fatalf("Lookup after the grace period = %v, want none", nodes)
	}
}

func TestCacheWatch(t *testing.T) {
	st, _ := NewStatic(node("a"))
	c := newTestCache(t, st)
	snap, err := c.Watch(context.Background(), "api", 0)
	if err != nil || len(snap.Nodes) != 1 || snap.Index == 0 {
		t.Fatalf("Watch(0) = %+v, %v", snap, err)
	}
	got := make(chan Snapshot, 1)
	go func() {
		s, _ := c.Watch(context.Background(), "api", snap.Index)
		got <- s
	}()
	st.Set("api", []*Node{node("a"), node("bb")})
	if s := <-got; len(s.Nodes) != 2 || s.Index == snap.Index {
		t.Fatalf("Watch after a change = %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Watch(ctx, "api", snap.Index+1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch with a cancelled context = %v", err)
	}
}

func TestCacheClose(t *testing.T) {
	st, _ := NewStatic(node("a"))
	c := NewCache(st)
	mustLookup(t, c, "api")
	blocked := make(chan error, 1)
	go func() {
		_, err := c.Watch(context.Background(), "api", 1)
		blocked <- err
	}()
	c.Close() // returns once the watch goroutine has ended
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Watch after Close = %v", err)
	}
	if _, err := c.Lookup(context.Background(), "api"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close = %v", err)
	}
	c.Close()
}

func TestCachePassesRegistrationThrough(t *testing.T) {
	st, _ := NewStatic()
	c := newTestCache(t, st)
	ctx := context.Background()
	if err := c.Register(ctx, Registration{Node: *node("a")}); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := st.Lookup(ctx, "api"); len(nodes) != 1 {
		t.Fatalf("backend after Register: %v", nodes)
	}
	if err := c.Deregister(ctx, "api", "a"); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := st.Lookup(ctx, "api"); len(nodes) != 0 {
		t.Fatalf("backend after Deregister: %v", nodes)
	}
}

func TestCacheBackoff(t *testing.T) {
	c := NewCache(nil, WithBackoff(100*time.Millisecond, 2*time.Second))
	c.jitter = func(n int64) int64 { return n - 1 } // the top of the range
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {5, 1600 * time.Millisecond}, {6, 2 * time.Second}, {100, 2 * time.Second}} {
		if got := c.backoff(tt.n) + 1; got != tt.want {
			t.Errorf("backoff(%d) ceiling = %s, want %s", tt.n, got, tt.want)
		}
	}
}
