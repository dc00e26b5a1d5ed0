package consul

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// DefaultWaitTime is how long a Watch blocks in Consul before returning an
// unchanged snapshot, when no WithWaitTime option is given.
//
// It is a minute, not Consul's own default of five, because the wait time
// is also how long an agent that takes the query and never answers (hung,
// or behind a network that drops its packets) goes unseen: Watch gives up
// a query after the wait, Consul's jitter of up to a 16th of it, and 10 s,
// and until then nothing fails and nothing reports it. At five minutes that
// was 5 min 29 s during which the gateway served a snapshot it could not
// know was stale; at one, it is 1 min 14 s. An unchanged snapshot returned
// once a minute per service watched costs Consul one cheap query each.
const DefaultWaitTime = time.Minute

// MinWatchInterval and WatchBurst pace Watch's blocking queries on one
// service (on one Registry), as a token bucket: WatchBurst queries may start
// back to back, and beyond them one per MinWatchInterval. A service whose
// index moves on every answer (a large one whose checks' output keeps
// changing, many nodes flapping) is thus fetched and decoded about once per
// interval, the changes in between batched into the next answer, as
// consul-template and Envoy do; Consul's blocking-query documentation asks
// clients to rate-limit. The burst is for the changes that come in short
// series and must not wait: a node registers (one move of the index) and
// then passes its check (another), and paced at once the second would
// arrive up to a second late.
//
// The wait falls where it holds back no news. An answer that moved the index,
// or turned it back (a restored snapshot), returns at once, and only a query
// past the burst waits before it asks; after a quiet spell the bucket is full
// again. An answer that did not move the index returns no sooner than
// MinWatchInterval after its query started: Consul answers that way only when
// its wait time ends, and an agent (or proxy) that answers at once without
// moving the index, or without an X-Consul-Index at all, must not make Watch a
// busy loop. A Watch from index zero does not block: it asks at once and
// takes no token.
const MinWatchInterval = time.Second

// WatchBurst: see MinWatchInterval.
const WatchBurst = 4

// FirstQueryTimeout bounds a Watch from index zero, a query that Consul
// answers at once, without blocking. A blocking query may rightly take the
// wait time, and is bounded by that; the first one of a service must not:
// against an agent that accepts connections and never answers (hung, or
// behind a network that drops its packets), it held the service's first
// snapshot, and every request to a service added meanwhile, for the wait
// time and more (1 min 14 s by default).
const FirstQueryTimeout = 10 * time.Second

// Registry is a registry.Registry over a Consul agent. It is safe for concurrent
// use; it keeps no state of its own besides its settings, to pace Watch
// (see MinWatchInterval) each service's bucket of blocking queries, and, to
// bound its connections (see MaxBlockingQueries), its places for queries
// and the shared watch, so every Lookup and Watch is a request to Consul
// (wrap it in a registry.Cache to serve lookups from memory). The shared
// watch's queries run while a Watch waits on them and stop sharedLinger
// after the last one returned; a Registry needs no Close.
type Registry struct {
	health Health
	agent  Agent
	wait   time.Duration
	first  time.Duration // FirstQueryTimeout; tests shorten it
	dc     string
	now    func() time.Time                     // tests replace the clock
	after  func(time.Duration) <-chan time.Time // of the pacing in Watch

	blocking chan struct{} // a place per blocking query on a service: see MaxBlockingQueries
	fetches  chan struct{} // a place per non-blocking query: see MaxFetches
	shared   *shared       // nil (NewFrom): every Watch holds its own blocking query

	mu    sync.Mutex
	asked map[string]watchBucket // service → its blocking queries' bucket
	swept time.Time              // when asked last forgot its full buckets
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

// New returns a Registry that talks to Consul through c. It holds at most
// MaxBlockingQueries blocking queries on services, and watches the services
// beyond them through the shared watch (see MaxBlockingQueries).
func New(c *api.Client, opts ...Option) *Registry {
	r := NewFrom(c.Health(), c.Agent(), opts...)
	r.shared = newShared(r, c.Raw())
	return r
}

// NewFrom returns a Registry over the given health and agent endpoints; tests
// pass fakes here. It bounds the non-blocking queries as New does, but
// without the endpoints of the shared watch every Watch holds a blocking
// query of its own.
func NewFrom(h Health, a Agent, opts ...Option) *Registry {
	r := &Registry{health: h, agent: a, wait: DefaultWaitTime, first: FirstQueryTimeout, now: time.Now, after: time.After,
		blocking: make(chan struct{}, MaxBlockingQueries), fetches: make(chan struct{}, MaxFetches),
		asked: make(map[string]watchBucket)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Lookup implements registry.Registry with a non-blocking passing-only health
// query. Consul cannot tell an unknown service from one without instances, so
// Lookup never returns registry.ErrNotFound: an unknown service has an empty,
// non-nil slice. A name Consul's HTTP API cannot be asked about (see
// checkService) fails with ErrServiceName, without a request.
func (r *Registry) Lookup(ctx context.Context, service string) ([]*registry.Node, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	if err := r.takeFetch(ctx); err != nil {
		return nil, err
	}
	defer func() { <-r.fetches }()
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
// when identity matters. The returned Index is never zero. A name that Lookup
// refuses, Watch refuses too, at once. Watch starts a service's blocking
// queries no faster than WatchBurst back to back and one per
// MinWatchInterval beyond: an answer that moved the index returns at once,
// and a Watch past the burst waits before asking; one that did not move it
// returns no sooner than MinWatchInterval after its query began.
//
// A request bounded only by ctx could hang on a dead connection; Watch bounds
// it by the wait time plus Consul's jitter and a margin.
//
// Past MaxBlockingQueries Watches in flight, a Watch waits on the shared
// watch instead of a blocking query of its own: it returns as one would,
// a little later (the shared watch's round trip, then the service's query).
func (r *Registry) Watch(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	if err := checkService(service); err != nil {
		return registry.Snapshot{}, err
	}
	if index == 0 {
		return r.fetch(ctx, service)
	}
	start, err := r.turn(ctx, service)
	if err != nil {
		return registry.Snapshot{}, err
	}
	var snap registry.Snapshot
	switch {
	case r.shared == nil:
		snap, err = r.watch(ctx, service, index)
	case r.tryBlocking():
		snap, err = r.watch(ctx, service, index)
		<-r.blocking
	default:
		snap, err = r.watchShared(ctx, service, index)
	}
	if err == nil && snap.Index == index {
		err = r.waitUntil(ctx, start.Add(MinWatchInterval))
	}
	return snap, err
}

// ErrServiceName reports a service name that Lookup and Watch refuse to ask
// Consul about, since the answer would be another service's or another
// endpoint's: see checkService.
var ErrServiceName = errors.New("consul: service name cannot be asked about")

// checkService returns an error wrapping ErrServiceName when service is
// empty or has an empty, "." or ".." segment between its slashes (a single
// trailing slash aside, which Consul's server keeps as it is).
//
// The consul/api client puts the name into the request's path as it is: it
// escapes '?', '#', '%' and the like, which Consul decodes back, but not '/'
// (Consul serves a service "a/b" at /v1/health/service/a/b). Consul's HTTP
// server cleans dot segments and doubled slashes out of a path and answers
// with a redirect to the cleaned one, which the client follows: "x/../web"
// would read service web's nodes for service x/.., and "../../kv/k" the
// key-value store, with the gateway's token.
func checkService(service string) error {
	if hasDotSegment(service) {
		return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" path segment, which Consul's HTTP server would redirect away from",
			ErrServiceName, service)
	}
	return nil
}

// watch is one blocking query, bounded by the wait time plus Consul's jitter
// and a margin; from index zero, one that does not block, bounded by
// FirstQueryTimeout.
func (r *Registry) watch(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout(index))
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

// timeout bounds a blocking query from index: the wait time plus Consul's
// jitter and a margin; from index zero, FirstQueryTimeout.
func (r *Registry) timeout(index uint64) time.Duration {
	if index == 0 {
		return r.first
	}
	return r.wait + r.wait/16 + 10*time.Second
}

// watchBucket is a service's token bucket of blocking queries: tokens at
// time at, at most WatchBurst, one more every MinWatchInterval. at may be
// in the future: the start a waiting query took.
type watchBucket struct {
	tokens float64
	at     time.Time
}

// tokensAt returns the bucket's tokens at now, refilled since b.at.
func (b watchBucket) tokensAt(now time.Time) float64 {
	if !now.After(b.at) {
		return b.tokens
	}
	return min(WatchBurst, b.tokens+float64(now.Sub(b.at))/float64(MinWatchInterval))
}

// turn takes the start of the next blocking query on service from its
// bucket, now or, past the burst, when the next token comes, and waits for
// it (or for ctx to end). Taking it under the lock paces concurrent Watches
// of one service too.
func (r *Registry) turn(ctx context.Context, service string) (time.Time, error) {
	now := r.now()
	r.mu.Lock()
	b, ok := r.asked[service]
	if !ok {
		b = watchBucket{tokens: WatchBurst, at: now}
	} else if now.After(b.at) {
		b = watchBucket{tokens: b.tokensAt(now), at: now}
	}
	start := now
	if b.tokens >= 1 {
		b.tokens--
	} else {
		start = b.at.Add(time.Duration((1 - b.tokens) * float64(MinWatchInterval)))
		b = watchBucket{tokens: 0, at: start}
	}
	r.asked[service] = b
	r.forgetLocked(now)
	r.mu.Unlock()
	return start, r.waitUntil(ctx, start)
}

// forgetLocked drops, at most once per MinWatchInterval, the services whose
// buckets are full again: their next query starts as if they had never been
// asked about. So asked holds only the services asked about lately, however
// many come and go (a service dropped from the configuration is never
// watched again).
func (r *Registry) forgetLocked(now time.Time) {
	if now.Sub(r.swept) < MinWatchInterval {
		return
	}
	r.swept = now
	for service, b := range r.asked {
		if b.tokensAt(now) >= WatchBurst {
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
