package consul

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// DefaultWaitTime is how long a Watch blocks in Consul before returning an
// unchanged snapshot, when no WithWaitTime option is given.
const DefaultWaitTime = 5 * time.Minute

// MinWatchInterval is the least time between the starts of two blocking
// queries on one service: Watch never asks Consul about a service from a
// non-zero index sooner than this after it last did so (on the same Registry).
// A service whose index moves on every answer (a large one whose checks'
// output keeps changing, many nodes flapping) is thus fetched and decoded at
// most once per interval, the changes in between batched into the next
// answer, as consul-template and Envoy do; Consul's blocking-query
// documentation asks clients to rate-limit.
//
// The wait falls where it holds back no news. An answer that moved the index,
// or turned it back (a restored snapshot), returns at once, and the next Watch
// waits out the rest of the interval before it asks; after a quiet spell
// nothing is left to wait out, so the first change comes at once. An answer
// that did not move the index returns no sooner than MinWatchInterval after
// its query started: Consul answers that way only when its wait time ends, and
// an agent (or proxy) that answers at once without moving the index, or
// without an X-Consul-Index at all, must not make Watch a busy loop. A Watch
// from index zero does not block: it asks at once and does not count.
//
// The interval runs from start to start rather than from an answer to the
// next question, so a query that blocked for longer leaves nothing to wait
// for, and a slow answer (thousands of nodes to decode) does not lower the
// rate further.
const MinWatchInterval = time.Second

// Registry is a registry.Registry over a Consul agent. It is safe for concurrent
// use; it keeps no state of its own besides its settings and, to pace Watch
// (see MinWatchInterval), when each service's latest blocking query started,
// so every Lookup and Watch is a request to Consul (wrap it in a
// registry.Cache to serve lookups from memory).
type Registry struct {
	health Health
	agent  Agent
	wait   time.Duration
	dc     string
	now    func() time.Time                     // tests replace the clock
	after  func(time.Duration) <-chan time.Time // of the pacing in Watch

	mu    sync.Mutex
	asked map[string]time.Time // service → start of its latest blocking query
	swept time.Time            // when asked last forgot its old entries
}

var _ registry.Registry = (*Registry)(nil)

// Option configures a Registry.
type Option func(*Registry)

// WithWaitTime sets how long a Watch blocks in Consul before returning an
// unchanged snapshot. Zero or less means DefaultWaitTime. Consul caps it at
// ten minutes and adds up to 1/16 of jitter.
func WithWaitTime(d time.Duration) Option {
	return func(r *Registry) {
		if d > 0 {
			r.wait = d
		}
	}
}

// WithDatacenter makes Lookup and Watch read the given datacenter instead of
// the agent's own. Register always writes to the local agent.
func WithDatacenter(dc string) Option {
	return func(r *Registry) { r.dc = dc }
}

// New returns a Registry that talks to Consul through c.
func New(c *api.Client, opts ...Option) *Registry {
	return NewFrom(c.Health(), c.Agent(), opts...)
}

// NewFrom returns a Registry over the given health and agent endpoints; tests
// pass fakes here.
func NewFrom(h Health, a Agent, opts ...Option) *Registry {
	r := &Registry{health: h, agent: a, wait: DefaultWaitTime, now: time.Now, after: time.After,
		asked: make(map[string]time.Time)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Lookup implements registry.Registry with a non-blocking passing-only health
// query. Consul cannot tell an unknown service from one without instances, so
// Lookup never returns registry.ErrNotFound: an unknown service has an empty,
// non-nil slice.
func (r *Registry) Lookup(ctx context.Context, service string) ([]*registry.Node, error) {
	entries, _, err := r.health.Service(service, "", true, r.query(ctx))
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return nodesFromEntries(entries), nil
}

// Watch implements registry.Registry with a Consul blocking query on the
// passing instances of service: it returns when the service's index moves past
// index, or after the wait time with an unchanged snapshot. Consul's index also
// moves on changes that leave the node set equal, so callers compare node sets
// when identity matters. The returned Index is never zero. Watch starts a
// service's blocking queries at least MinWatchInterval apart: an answer that
// moved the index returns at once and the next Watch waits before asking; one
// that did not returns no sooner than MinWatchInterval after its query began.
//
// A request bounded only by ctx could hang on a dead connection; Watch bounds
// it by the wait time plus Consul's jitter and a margin.
func (r *Registry) Watch(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	if index == 0 {
		return r.watch(ctx, service, 0)
	}
	start, err := r.turn(ctx, service)
	if err != nil {
		return registry.Snapshot{}, err
	}
	snap, err := r.watch(ctx, service, index)
	if err == nil && snap.Index == index {
		err = r.waitUntil(ctx, start.Add(MinWatchInterval))
	}
	return snap, err
}

// watch is one blocking query, bounded by the wait time plus Consul's jitter
// and a margin.
func (r *Registry) watch(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.wait+r.wait/16+10*time.Second)
	defer cancel()
	q := r.query(ctx)
	q.WaitIndex = index
	q.WaitTime = r.wait
	entries, meta, err := r.health.Service(service, "", true, q)
	if err != nil {
		return registry.Snapshot{}, ctxErr(ctx, err)
	}
	idx := meta.LastIndex
	if idx == 0 {
		// Consul documents indexes as always positive; a zero would make the
		// next Watch return at once and spin.
		idx = 1
	}
	return registry.Snapshot{Nodes: nodesFromEntries(entries), Index: idx}, nil
}

// turn takes the next start of a blocking query on service, MinWatchInterval
// after the previous one's or now if that is later, and waits for it (or for
// ctx to end). Taking the turn under the lock spaces concurrent Watches of one
// service too.
func (r *Registry) turn(ctx context.Context, service string) (time.Time, error) {
	now := r.now()
	r.mu.Lock()
	start := now
	if next := r.asked[service].Add(MinWatchInterval); next.After(now) {
		start = next
	}
	r.asked[service] = start
	r.forgetLocked(now)
	r.mu.Unlock()
	return start, r.waitUntil(ctx, start)
}

// forgetLocked drops, at most once per MinWatchInterval, the services whose
// latest blocking query started at least MinWatchInterval before now: their
// next one starts at once, as if they had never been asked about. So asked
// holds only the services asked about lately, however many come and go (a
// service dropped from the configuration is never watched again).
func (r *Registry) forgetLocked(now time.Time) {
	if now.Sub(r.swept) < MinWatchInterval {
		return
	}
	r.swept = now
	for service, start := range r.asked {
		if now.Sub(start) >= MinWatchInterval {
			delete(r.asked, service)
		}
	}
}

// waitUntil waits until t on the registry's clock, or ctx ends.
func (r *Registry) waitUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(r.now())
	if d <= 0 {
		return nil
	}
	select {
	case <-r.after(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// query returns the options of a read: a stale read (see the package
// documentation), in the registry's datacenter, bounded by ctx.
func (r *Registry) query(ctx context.Context) *api.QueryOptions {
	q := &api.QueryOptions{Datacenter: r.dc, AllowStale: true}
	return q.WithContext(ctx)
}

// ctxErr returns ctx.Err() when ctx has ended, since the HTTP client wraps it in
// errors of its own; otherwise err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
