package consul

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// fakeClock is the clock of a Registry's pacing. A waiting clock moves only
// when the test advances it; a running one jumps to the end of every wait at
// once, so that a watch loop lives through seconds of its time in
// microseconds of the test's.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	running bool
	waits   []time.Duration // every After, in order
	waiters []clockWaiter
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(running bool) *fakeClock {
	return &fakeClock{now: time.Unix(1_000_000, 0), running: running}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	if c.running {
		c.now = c.now.Add(d)
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, clockWaiter{c.now.Add(d), ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

func (c *fakeClock) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func (c *fakeClock) use(r *Registry) { r.now, r.after = c.Now, c.After }

// flappingAgent imitates the /v1/health/service endpoint of a service whose
// index moves before every request (a large service whose checks' output keeps
// changing): every blocking query is answered at once, with a new index. After
// limit answers it stops answering, so that the watch loop under test ends
// there.
type flappingAgent struct {
	clock *fakeClock
	limit int

	mu    sync.Mutex
	asked []flappingRequest
}

type flappingRequest struct {
	index string // ?index=
	at    time.Time
}

func (f *flappingAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.asked)
	if n == f.limit {
		f.mu.Unlock()
		<-r.Context().Done()
		return
	}
	f.asked = append(f.asked, flappingRequest{r.URL.Query().Get("index"), f.clock.Now()})
	f.mu.Unlock()
	w.Header().Set("X-Consul-Index", fmt.Sprint(100+n))
	w.Header().Set("X-Consul-LastContact", "0")
	w.Header().Set("X-Consul-KnownLeader", "true")
	fmt.Fprint(w, oneNode)
}

func (f *flappingAgent) requests() []flappingRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]flappingRequest(nil), f.asked...)
}

// A service whose index moves on every answer is fetched about once per
// MinWatchInterval by the cache's watch loop, not in a busy loop: past the
// first WatchBurst blocking queries, which start back to back, each starts at
// least MinWatchInterval after the one before it, and N seconds of (fake)
// time hold at most WatchBurst+N blocking queries, besides the first,
// index-zero fetch.
func TestAuditWatchFetchesAFlappingServiceOncePerInterval(t *testing.T) {
	const fetches = 1 + WatchBurst + 12 // the first (index 0) and the blocking queries
	clock := newFakeClock(true)
	agent := &flappingAgent{clock: clock, limit: fetches}
	srv := httptest.NewServer(agent)
	t.Cleanup(srv.Close)
	c, err := api.NewClient(&api.Config{Address: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	r := New(c, WithWaitTime(time.Minute))
	clock.use(r)
	cache := registry.NewCache(r)
	t.Cleanup(func() { cache.Close() })
	if nodes, err := cache.Lookup(context.Background(), "api"); err != nil || len(nodes) != 1 {
		t.Fatalf("Lookup = %v, %v", nodes, err)
	}
	waitFor(t, "the agent's answers to run out", func() bool { return len(agent.requests()) == fetches })

	asked := agent.requests()
	if asked[0].index != "" && asked[0].index != "0" {
		t.Fatalf("first request asked from index %s, want a non-blocking fetch", asked[0].index)
	}
	for i := 1 + WatchBurst; i < len(asked); i++ {
		if gap := asked[i].at.Sub(asked[i-1].at); gap < MinWatchInterval {
			t.Fatalf("blocking query %d started %s after the one before it, want at least %s past the burst: a service whose index keeps moving is fetched in a busy loop",
				i, gap, MinWatchInterval)
		}
	}
	const window = 10 * time.Second
	first, inWindow := asked[1].at, 0
	for _, q := range asked[1:] {
		if q.at.Sub(first) < window {
			inWindow++
		}
	}
	if most := WatchBurst + int(window/MinWatchInterval); inWindow > most {
		t.Fatalf("%s of fake time held %d blocking queries, want at most %d", window, inWindow, most)
	}
}

// The pacing holds back no news: a burst of changes comes at once, one by
// one; past the burst the next query waits for its token, and the changes
// made meanwhile come batched in its one answer; after a quiet spell, and
// after a query that blocked for longer than the interval, nothing waits.
func TestAuditWatchPacingHoldsBackNoNews(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f, WithWaitTime(time.Hour))
	clock := newFakeClock(false)
	clock.use(r)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	queries := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.queries)
	}
	type result struct {
		snap registry.Snapshot
		err  error
	}
	// watch starts a Watch from index and returns its answer's channel once
	// the Watch has either sent its query to Consul or begun to wait.
	watch := func(index uint64) (<-chan result, bool) {
		before, waits := queries(), len(clock.waited())
		got := make(chan result, 1)
		go func() {
			s, err := r.Watch(ctx, "api", index)
			got <- result{s, err}
		}()
		var asked bool
		waitFor(t, "the Watch to ask or wait", func() bool {
			asked = queries() > before
			return asked || len(clock.waited()) > waits
		})
		return got, asked
	}
	registered := 0
	register := func(id string) {
		t.Helper()
		registered++
		if err := r.Register(ctx, reg(id, fmt.Sprintf("10.0.0.5:%d", 8000+registered))); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(got <-chan result, nodes int) registry.Snapshot {
		t.Helper()
		res := <-got
		if res.err != nil || len(res.snap.Nodes) != nodes {
			t.Fatalf("Watch = %+v, %v; want %d nodes", res.snap, res.err, nodes)
		}
		return res.snap
	}

	snap, err := r.Watch(ctx, "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first WatchBurst blocking queries ask at once, each answered with
	// news at once: a node that registers, then passes its check, is not
	// held back.
	nodes := 0
	for i := range max(WatchBurst, 2) { // at least two: a registration, then its check passing
		got, asked := watch(snap.Index)
		if !asked {
			t.Fatalf("blocking query %d of the burst waited: the second of two changes in a row came late", i+1)
		}
		nodes++
		register(fmt.Sprintf("a%d", nodes))
		snap = answer(got, nodes)
	}

	// Past the burst, the next query waits for its token; changes made
	// meanwhile are batched into its one answer.
	got, asked := watch(snap.Index)
	if asked {
		t.Fatal("the blocking query past the burst started at once: a service whose index keeps moving would be fetched in a busy loop")
	}
	register("b1")
	register("b2")
	nodes += 2
	before := queries()
	clock.Advance(MinWatchInterval)
	snap = answer(got, nodes)
	if n := queries() - before; n != 1 {
		t.Fatalf("the paced query took %d requests, want 1", n)
	}

	// After a quiet spell the next query asks at once, and its change comes at
	// once.
	clock.Advance(10 * time.Second)
	waits := len(clock.waited())
	got, asked = watch(snap.Index)
	if !asked {
		t.Fatal("the first query after a quiet spell waited")
	}
	clock.Advance(5 * time.Minute) // the query blocks for a long time
	register("c1")
	nodes++
	snap = answer(got, nodes)
	// It blocked for longer than the interval: the next one asks at once.
	got, asked = watch(snap.Index)
	if !asked {
		t.Fatal("the query after one that blocked for minutes waited")
	}
	register("c2")
	answer(got, nodes+1)
	if w := clock.waited()[waits:]; len(w) != 0 {
		t.Fatalf("news after a quiet spell waited %v", w)
	}
}

// A service's bucket is forgotten once it is full again, and so can no
// longer hold anything back, so services that are never watched again (a
// dropped route's) do not pile up in the Registry.
func TestAuditWatchForgetsServicesNoLongerWatched(t *testing.T) {
	s := &stubAgent{}
	s.set(http.StatusOK, "8", oneNode)
	r, _ := newStubRegistry(t, s)
	clock := newFakeClock(true)
	clock.use(r)
	for i := range 100 {
		if _, err := r.Watch(context.Background(), fmt.Sprint("svc-", i), 7); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(MinWatchInterval)
	if _, err := r.Watch(context.Background(), "api", 7); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.asked) != 1 {
		t.Fatalf("the Registry remembers %d services, want only the one asked about lately", len(r.asked))
	}
}
