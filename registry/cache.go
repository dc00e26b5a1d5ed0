package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Cache defaults.
const (
	// DefaultDropGrace is how long a Cache keeps serving the last nodes of a
	// service whose backend suddenly reports none.
	DefaultDropGrace = 5 * time.Second
	// DefaultBackoffBase and DefaultBackoffMax bound the full-jitter back-off
	// between failed watches: the n-th retry waits a random time below
	// min(DefaultBackoffMax, DefaultBackoffBase·2ⁿ⁻¹), so a cache re-syncs within
	// about DefaultBackoffMax of its backend coming back.
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffMax  = 2 * time.Second
)

// Errors returned by Cache.
var (
	// ErrStale reports that a service's snapshot has not been confirmed by the
	// backend for longer than the cache's MaxStale.
	ErrStale = errors.New("registry: snapshot too stale")
	// ErrClosed reports a call on a closed Cache.
	ErrClosed = errors.New("registry: cache closed")
)

// noNodes is the empty node set that Cache serves, so its identity is stable.
var noNodes = []*Node{}

// Cache is a Registry that serves Lookup and Watch from memory and keeps itself
// current with one background Watch per service on a backing Registry.
//
// The first Lookup (or Watch) of a service starts that service's watch; services
// never asked for are never watched. Concurrent first lookups share the watch's
// first request. Lookup then returns the same slice until the node set changes,
// so callers may key state on slice identity; a backend answer with equal nodes
// keeps the old slice.
//
// When the backend fails, the cache keeps serving the last good snapshot and
// retries with full-jitter back-off; Stale and Status report how long it has
// been failing, and WithMaxStale turns a too-old snapshot into ErrStale. A
// sudden drop from some nodes to none is held for a grace period (see
// WithDropGrace) in case it is a glitch of the backend.
//
// Register and Deregister pass through to the backend. Create a Cache with
// NewCache and end it with Close. It is safe for concurrent use; Lookup does not
// block once a service has synced.
type Cache struct {
	backend  Registry
	maxStale time.Duration
	grace    time.Duration
	base     time.Duration
	max      time.Duration
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	jitter   func(n int64) int64 // uniform in [0, n)

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex
	closed  bool
	entries map[string]*cacheEntry
	epochs  uint64 // entries made so far: see entry
}

var _ Registry = (*Cache)(nil)

// cacheEntry is the cache of one service. Only its watch goroutine stores state.
type cacheEntry struct {
	ready chan struct{} // closed when the first fetch has ended
	state atomic.Pointer[cacheState]
	ctx   context.Context // ends on Close, or when Retain forgets the service
	stop  context.CancelFunc
}

// cacheState is immutable; every change stores a new one and closes changed.
type cacheState struct {
	nodes        []*Node // served; the last good set while a drop is held
	index        uint64  // version of the served view, not the backend's index
	backendIndex uint64
	synced       bool // a fetch has succeeded
	lastOK       time.Time
	lastErr      error     // of the latest fetch; nil when it succeeded
	failingSince time.Time // zero unless the latest fetch failed
	dropSince    time.Time // zero unless a drop to no nodes is held
	changed      chan struct{}
}

// CacheOption configures a Cache.
type CacheOption func(*Cache)

// WithMaxStale makes Lookup and Watch fail with ErrStale once the backend has
// been failing for longer than d. Zero, the default, serves the last good
// snapshot for ever.
func WithMaxStale(d time.Duration) CacheOption { return func(c *Cache) { c.maxStale = max(d, 0) } }

// WithDropGrace sets how long a drop from some nodes to none is held before it
// is served. Zero serves drops at once. The default is DefaultDropGrace.
func WithDropGrace(d time.Duration) CacheOption { return func(c *Cache) { c.grace = max(d, 0) } }

// WithBackoff sets the base and cap of the full-jitter back-off between failed
// watches; zero values keep the defaults.
func WithBackoff(base, ceiling time.Duration) CacheOption {
	return func(c *Cache) {
		c.base = cmp.Or(max(base, 0), c.base)
		c.max = cmp.Or(max(ceiling, 0), c.max)
	}
}

// WithClock replaces the wall clock: now reads the time for staleness and drop
// grace, after waits (back-off, grace expiry). Tests pass a manual clock.
func WithClock(now func() time.Time, after func(time.Duration) <-chan time.Time) CacheOption {
	return func(c *Cache) { c.now, c.after = now, after }
}

// NewCache returns a Cache over backend. It starts no goroutine until the first
// lookup.
func NewCache(backend Registry, opts ...CacheOption) *Cache {
	c := &Cache{
		backend: backend,
		grace:   DefaultDropGrace,
		base:    DefaultBackoffBase,
		max:     DefaultBackoffMax,
		now:     time.Now,
		after:   time.After,
		jitter:  rand.Int64N,
		entries: make(map[string]*cacheEntry),
	}
	for _, o := range opts {
		o(c)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Lookup implements Registry from memory. The first lookup of a service waits
// for the backend's first answer (or ctx); later ones do not block. When that
// first answer failed, Lookup returns its error, wrapped, until a retry
// succeeds. The cache cannot tell an unknown service from an empty one unless
// the backend's Watch reports ErrNotFound.
func (c *Cache) Lookup(ctx context.Context, service string) ([]*Node, error) {
	e, err := c.entry(service)
	if err != nil {
		return nil, err
	}
	st, err := c.wait(ctx, service, e)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if err := c.staleErr(service, st, now); err != nil {
		return nil, err
	}
	nodes, _ := st.view(now, c.grace)
	return nodes, nil
}

// Watch implements Registry from memory: it blocks until the cached view of
// service differs from index. The returned index is the cache's own version
// of the view, unrelated to the backend's. Like the backend's Watch it returns
// at once with an error while the service is failing beyond MaxStale, so
// callers back off on errors.
func (c *Cache) Watch(ctx context.Context, service string, index uint64) (Snapshot, error) {
	e, err := c.entry(service)
	if err != nil {
		return Snapshot{}, err
	}
	for {
		st, err := c.wait(ctx, service, e)
		if err != nil {
			return Snapshot{}, err
		}
		now := c.now()
		nodes, idx := st.view(now, c.grace)
		snap := Snapshot{Nodes: nodes, Index: idx}
		if err := c.staleErr(service, st, now); err != nil {
			return snap, err
		}
		if index == 0 || idx != index {
			return snap, nil
		}
		var timer <-chan time.Time
		if d, ok := c.untilDrop(st, now); ok {
			timer = c.after(d)
		}
		select {
		case <-st.changed:
		case <-timer:
		case <-ctx.Done():
			return snap, ctx.Err()
		case <-c.ctx.Done():
			return snap, ErrClosed
		case <-e.ctx.Done(): // forgotten (Retain): this caller still wants it
			if e, err = c.entry(service); err != nil {
				return snap, err
			}
		}
	}
}

// Register implements Registry by passing r to the backend.
func (c *Cache) Register(ctx context.Context, r Registration) error {
	return c.backend.Register(ctx, r)
}

// Deregister implements Registry by passing the call to the backend.
func (c *Cache) Deregister(ctx context.Context, service, id string) error {
	return c.backend.Deregister(ctx, service, id)
}

// Close stops every watch and waits for them to end. Later calls return
// ErrClosed; Close itself may be called more than once.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// Retain stops the watch of every cached service for which keep returns
// false and forgets its snapshot, so that a service nothing asks for any
// more (a configuration reload dropped every route to it) is no longer
// queried, nor listed by Status. A later Lookup of it starts a new watch,
// and waits for its first answer, as the first lookup of a service does.
// Lookups under way on a forgotten service keep the nodes they were given.
func (c *Cache) Retain(keep func(service string) bool) {
	c.mu.Lock()
	var gone []*cacheEntry
	for service, e := range c.entries {
		if !keep(service) {
			delete(c.entries, service)
			gone = append(gone, e)
		}
	}
	c.mu.Unlock()
	for _, e := range gone {
		e.stop()
	}
}

// ServiceStatus is the state of one cached service, for health endpoints and
// metrics.
type ServiceStatus struct {
	Service      string
	Nodes        int       // how many nodes Lookup serves now
	Index        uint64    // the backend's index at the last success
	LastSuccess  time.Time // zero until the first success
	LastError    error     // of the latest fetch; nil when it succeeded
	FailingSince time.Time // zero unless the latest fetch failed
	HoldingDrop  bool      // the backend reports no nodes; the last ones are served
}

// Status lists the cached services, sorted by name.
func (c *Cache) Status() []ServiceStatus {
	now := c.now()
	c.mu.RLock()
	out := make([]ServiceStatus, 0, len(c.entries))
	for name, e := range c.entries {
		st := e.state.Load()
		nodes, _ := st.view(now, c.grace)
		out = append(out, ServiceStatus{
			Service: name, Nodes: len(nodes), Index: st.backendIndex, LastSuccess: st.lastOK,
			LastError: st.lastErr, FailingSince: st.failingSince,
			HoldingDrop: !st.dropSince.IsZero() && len(nodes) > 0,
		})
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// Stale reports how long the backend has been failing for service: zero while
// its watch is healthy. ok is false when the cache holds no snapshot of the
// service.
func (c *Cache) Stale(service string) (age time.Duration, ok bool) {
	c.mu.RLock()
	e := c.entries[service]
	c.mu.RUnlock()
	if e == nil {
		return 0, false
	}
	st := e.state.Load()
	if !st.synced {
		return 0, false
	}
	if st.failingSince.IsZero() {
		return 0, true
	}
	return c.now().Sub(st.failingSince), true
}

// entry returns the entry of service, creating it and starting its watch on
// first use.
func (c *Cache) entry(service string) (*cacheEntry, error) {
	c.mu.RLock()
	e, closed := c.entries[service], c.closed
	c.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if e != nil {
		return e, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if e = c.entries[service]; e == nil {
		e = &cacheEntry{ready: make(chan struct{})}
		e.ctx, e.stop = context.WithCancel(c.ctx)
		// The versions of a service watched again after Retain forgot it
		// start past those of its earlier watches, so that a Watch with an
		// index from those never takes the new view for the one it saw.
		e.state.Store(&cacheState{index: c.epochs << 32, changed: make(chan struct{})})
		c.epochs++
		c.entries[service] = e
		c.wg.Add(1)
		go c.run(service, e)
	}
	return e, nil
}

// wait returns the state of e once its first fetch has ended, or the error of
// that fetch while none has succeeded.
func (c *Cache) wait(ctx context.Context, service string, e *cacheEntry) (*cacheState, error) {
	select {
	case <-e.ready: // checked alone first: a select picks among ready cases at random
	default:
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	st := e.state.Load()
	if !st.synced {
		return nil, fmt.Errorf("registry: cache: %s not synced: %w", service, st.lastErr)
	}
	return st, nil
}

func (c *Cache) staleErr(service string, st *cacheState, now time.Time) error {
	if c.maxStale <= 0 || st.failingSince.IsZero() {
		return nil
	}
	if age := now.Sub(st.failingSince); age > c.maxStale {
		return fmt.Errorf("%w: %s failing for %s: %w", ErrStale, service, age.Round(time.Millisecond), st.lastErr)
	}
	return nil
}

// untilDrop returns how long until a held drop of st ends, if one is held.
// (Failures store a new state at every retry, which wakes watchers often
// enough to report MaxStale without a timer of its own.)
func (c *Cache) untilDrop(st *cacheState, now time.Time) (time.Duration, bool) {
	if st.dropSince.IsZero() {
		return 0, false
	}
	d := st.dropSince.Add(c.grace).Sub(now)
	return d, d > 0
}

// view returns the nodes to serve at now and the version of that view. A held
// drop whose grace has passed serves no nodes, as the next backend answer would
// make it do.
func (st *cacheState) view(now time.Time, grace time.Duration) ([]*Node, uint64) {
	if !st.dropSince.IsZero() && now.Sub(st.dropSince) >= grace {
		return noNodes, st.index + 1
	}
	return st.nodes, st.index
}

// run is the watch goroutine of one service: it keeps e current until Close.
// After an error it re-syncs from index zero, since a restarted backend may
// have restarted its indexes too, and a blocking query on a stale index could
// wait its full timeout.
func (c *Cache) run(service string, e *cacheEntry) {
	defer c.wg.Done()
	var once sync.Once
	ready := func() { once.Do(func() { close(e.ready) }) }
	defer ready()
	var index uint64
	failures := 0
	for {
		snap, err := c.backend.Watch(e.ctx, service, index)
		if e.ctx.Err() != nil {
			if !e.state.Load().synced {
				e.store(e.state.Load().failed(ErrClosed, c.now()))
			}
			return
		}
		var wait time.Duration
		if err != nil {
			e.store(e.state.Load().failed(err, c.now()))
			failures++
			index, wait = 0, c.backoff(failures)
		} else {
			e.store(e.state.Load().updated(snap, c.now(), c.grace))
			failures, index = 0, snap.Index
			if index == 0 { // a backend without history: poll
				wait = c.max
			}
		}
		ready()
		if wait > 0 {
			select {
			case <-c.after(wait):
			case <-e.ctx.Done():
				return
			}
		}
	}
}

// backoff returns the full-jitter wait before retry n (from 1).
func (c *Cache) backoff(n int) time.Duration {
	ceil := c.base
	for i := 1; i < n && ceil < c.max; i++ {
		ceil *= 2
	}
	return time.Duration(c.jitter(int64(min(ceil, c.max))))
}

func (e *cacheEntry) store(next *cacheState) {
	old := e.state.Swap(next)
	close(old.changed)
}

// failed returns st after a failed fetch: same nodes, error recorded.
func (st *cacheState) failed(err error, now time.Time) *cacheState {
	next := *st
	next.lastErr = err
	if next.failingSince.IsZero() {
		next.failingSince = now
	}
	next.changed = make(chan struct{})
	return &next
}

// updated returns st after the backend answered snap at now. It keeps the
// served slice, and its version, when the answer serves equal nodes, and holds
// a drop to no nodes for grace.
func (st *cacheState) updated(snap Snapshot, now time.Time, grace time.Duration) *cacheState {
	next := *st
	next.synced, next.lastOK, next.lastErr = true, now, nil
	next.failingSince, next.dropSince = time.Time{}, time.Time{}
	next.backendIndex = snap.Index
	next.changed = make(chan struct{})

	candidate := snap.Nodes
	if len(candidate) == 0 {
		candidate = noNodes
		holding := !st.dropSince.IsZero()
		if st.synced && grace > 0 && len(st.nodes) > 0 && (!holding || now.Sub(st.dropSince) < grace) {
			candidate, next.dropSince = st.nodes, st.dropSince
			if !holding {
				next.dropSince = now
			}
		}
	}
	if !st.synced {
		next.nodes, next.index = candidate, st.index+1
		return &next
	}
	served, index := st.view(now, grace)
	if sameNodes(served, candidate) {
		next.nodes, next.index = served, index
	} else {
		next.nodes, next.index = candidate, index+1
	}
	return &next
}

// sameNodes reports whether a and b hold equal nodes, in any order. Each
// node of a matches one node of b at most, so a set that holds one key twice
// is never taken for one that holds another key besides it ([x y] for
// [x x]), which would keep serving y after the backend dropped it; two sets
// that hold the same duplicate are reported different, which costs a new
// version and nothing else.
func sameNodes(a, b []*Node) bool {
	if len(a) != len(b) {
		return false
	}
	byKey := make(map[string]*Node, len(a))
	for _, n := range a {
		byKey[n.Key()] = n
	}
	for _, n := range b {
		k := n.Key()
		m := byKey[k]
		if m == nil || m.Version != n.Version || m.Datacenter != n.Datacenter || !maps.Equal(m.Metadata, n.Metadata) {
			return false
		}
		delete(byKey, k)
	}
	return true
}
