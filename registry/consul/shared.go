package consul

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// MaxBlockingQueries bounds the blocking queries on single services that one
// Registry holds open at once, and MaxFetches its non-blocking health
// queries (a service's first query, Lookup, the shared watch's refetches).
// A blocking query holds its HTTP connection to the agent while it waits,
// and Consul's agent refuses more than limits.http_max_conns_per_client
// connections from one address (200 by default) with 429: with one query
// per service, a gateway that routed to 400 services found no nodes for 201
// of them, and the agent refused the other clients on its address too.
//
// The services watched beyond MaxBlockingQueries share one watch instead:
// one blocking query on each of changeEndpoints, whose indexes together move
// with every change of the catalog, and, each time one moves, a
// non-blocking query of each of those services (at most MaxFetches at once)
// that returns the service's Watch when its own index moved. So a Registry
// has at most MaxBlockingQueries + len(changeEndpoints) + MaxFetches (27)
// requests in flight to its agent however many services it watches, and the
// client of NewClient opens at most MaxConns connections for them.
const (
	MaxBlockingQueries = 16
	MaxFetches         = 8
)

// changeEndpoints are the shared watch's blocking queries: the index of
// health/state/any moves with every change of a check (its status, or a
// check added or removed with its service), catalog/services' with every
// service instance registered or removed (with checks or without), and
// catalog/nodes' with every change of a node (its address, which services
// without their own address take). A service's health entries change only
// in a write that moves one of them. The filter matches no entry (every
// entry has a node name), so that an answer carries an index and no body
// however large the catalog is.
var changeEndpoints = []string{"/v1/health/state/any", "/v1/catalog/services", "/v1/catalog/nodes"}

const changeFilter = `Node == ""`

// sharedLinger is how long the shared watch's queries go on after the last
// Watch on them returned, so that the Watch a cache starts right after the
// last one ended (or after its back-off) finds them running.
const sharedLinger = 10 * time.Second

// Raw is the part of Consul's HTTP API that the shared watch reads (see
// MaxBlockingQueries). *api.Raw satisfies it.
type Raw interface {
	// Query reads endpoint into out; q carries the blocking-query index,
	// wait time, filter and context.
	Query(endpoint string, out any, q *api.QueryOptions) (*api.QueryMeta, error)
}

var _ Raw = (*api.Raw)(nil)

// shared is the shared watch of one Registry: it closes moved, and makes a
// new one, each time the index of one of changeEndpoints moves, while at
// least one Watch waits on it (and sharedLinger after the last one left).
type shared struct {
	r   *Registry
	raw Raw

	mu       sync.Mutex
	moved    chan struct{}
	watchers int
	idle     uint64             // times watchers fell to zero: see leave
	stop     context.CancelFunc // of the running queries; nil when none run
}

func newShared(r *Registry, raw Raw) *shared {
	return &shared{r: r, raw: raw, moved: make(chan struct{})}
}

// join counts a Watch in, starts the queries if none run, and returns the
// channel that the next move closes.
func (s *shared) join() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers++
	if s.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		for _, endpoint := range changeEndpoints {
			go s.follow(ctx, endpoint)
		}
	}
	return s.moved
}

// leave counts a Watch out; sharedLinger after the last one left, the
// queries stop unless another joined meanwhile.
func (s *shared) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers--; s.watchers > 0 {
		return
	}
	s.idle++
	idle := s.idle
	time.AfterFunc(sharedLinger, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.watchers == 0 && s.idle == idle && s.stop != nil {
			s.stop()
			s.stop = nil
		}
	})
}

// current returns the channel that the next move closes.
func (s *shared) current() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moved
}

func (s *shared) bump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.moved)
	s.moved = make(chan struct{})
}

// follow runs the blocking queries of endpoint until ctx ends, paced as a
// service's are (the endpoint, which starts with a slash, is no service's
// name). Its first answer counts as a move, since a change may have come
// between a Watch's query and it; so does the first failure of a series,
// so that the Watches ask again and report the agent's failure themselves.
// After a failure it backs off with full jitter, as registry.Cache does, and
// starts again from index zero.
func (s *shared) follow(ctx context.Context, endpoint string) {
	r := s.r
	var index uint64
	failures := 0
	for {
		start := r.now()
		if index > 0 {
			var err error
			if start, err = r.turn(ctx, endpoint); err != nil {
				return
			}
		}
		next, err := s.query(ctx, endpoint, index)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if failures == 0 {
				s.bump()
			}
			failures++
			index = 0
			ceil := min(registry.DefaultBackoffBase<<min(failures-1, 16), registry.DefaultBackoffMax)
			if r.waitUntil(ctx, r.now().Add(time.Duration(rand.Int64N(int64(ceil))))) != nil {
				return
			}
			continue
		case next != index:
			s.bump()
		default:
			if r.waitUntil(ctx, start.Add(MinWatchInterval)) != nil {
				return
			}
		}
		failures, index = 0, next
	}
}

// query is one blocking query on endpoint from index, bounded as Watch's
// are; it returns the endpoint's index, never zero.
func (s *shared) query(ctx context.Context, endpoint string, index uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.r.timeout(index))
	defer cancel()
	q := s.r.query(ctx)
	q.WaitIndex, q.WaitTime, q.Filter = index, s.r.wait, changeFilter
	var body json.RawMessage
	meta, err := s.raw.Query(endpoint, &body, q)
	if err != nil {
		return 0, err
	}
	return max(meta.LastIndex, 1), nil
}

// watchShared is Watch on the shared watch: it asks for service at once,
// and again each time the shared watch moves, until the service's index
// differs from index; after the wait time it returns the unchanged
// snapshot, as a blocking query does.
func (r *Registry) watchShared(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	moved := r.shared.join()
	defer r.shared.leave()
	timeout := r.after(r.wait)
	for {
		snap, err := r.fetch(ctx, service)
		if err != nil || snap.Index != index {
			return snap, err
		}
		select {
		case <-moved:
			moved = r.shared.current()
		case <-timeout:
			return snap, nil
		case <-ctx.Done():
			return snap, ctx.Err()
		}
	}
}

// tryBlocking takes one of the MaxBlockingQueries places, if one is free.
func (r *Registry) tryBlocking() bool {
	select {
	case r.blocking <- struct{}{}:
		return true
	default:
		return false
	}
}

// fetch is a non-blocking query of service, in one of the MaxFetches
// places, bounded by FirstQueryTimeout with the wait for the place.
func (r *Registry) fetch(ctx context.Context, service string) (registry.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.first)
	defer cancel()
	if err := r.takeFetch(ctx); err != nil {
		return registry.Snapshot{}, err
	}
	defer func() { <-r.fetches }()
	return r.watch(ctx, service, 0)
}

// takeFetch waits for one of the MaxFetches places, or for ctx to end; the
// caller gives it back by receiving from r.fetches.
func (r *Registry) takeFetch(ctx context.Context) error {
	select {
	case r.fetches <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
