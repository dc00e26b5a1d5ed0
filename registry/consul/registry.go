package consul

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// DefaultWaitTime is how long a Watch blocks in Consul before returning an
// unchanged snapshot, when no WithWaitTime option is given.
const DefaultWaitTime = 5 * time.Minute

// MinUnchangedWatch is the least time a Watch takes when Consul's answer did
// not move the index: Consul answers that way only when its wait time ends, so
// an agent (or proxy) that answers at once without moving the index, or
// without an X-Consul-Index at all, would otherwise be polled in a busy loop.
// Consul's blocking-query documentation asks clients to rate-limit.
const MinUnchangedWatch = time.Second

// Registry is a registry.Registry over a Consul agent. It is safe for concurrent
// use; it keeps no state of its own besides its settings, so every Lookup and
// Watch is a request to Consul (wrap it in a registry.Cache to serve lookups from
// memory).
type Registry struct {
	health Health
	agent  Agent
	wait   time.Duration
	dc     string
	now    func() time.Time                     // tests replace the clock
	after  func(time.Duration) <-chan time.Time // of the pacing in Watch
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
	r := &Registry{health: h, agent: a, wait: DefaultWaitTime, now: time.Now, after: time.After}
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
// when identity matters. The returned Index is never zero. An answer that did
// not move the index returns no sooner than MinUnchangedWatch after the call.
//
// A request bounded only by ctx could hang on a dead connection; Watch bounds
// it by the wait time plus Consul's jitter and a margin.
func (r *Registry) Watch(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	start := r.now()
	snap, err := r.watch(ctx, service, index)
	if err == nil && index > 0 && snap.Index == index {
		err = r.pace(ctx, start)
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

// pace waits until MinUnchangedWatch after start, or ctx ends. An index going
// backwards (a restored snapshot) is not paced: that answer is news.
func (r *Registry) pace(ctx context.Context, start time.Time) error {
	d := MinUnchangedWatch - r.now().Sub(start)
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
