package consul

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
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
// non-blocking query (at most MaxFetches at once) of each service the move
// may concern, which returns the service's Watch when its own index moved.
// A change of checks concerns only the services whose checks, or whose
// nodes' checks, it changed, while reading the checks costs less than
// asking about every service (see checkWatch); a change of the services or
// nodes tables concerns every service. So a Registry has at most
// MaxBlockingQueries + len(changeEndpoints) + MaxFetches (27) requests in
// flight to its agent however many services it watches, and the client of
// NewClient opens at most MaxConns connections for them.
const (
	MaxBlockingQueries = 16
	MaxFetches         = 8
)

// changeEndpoints are the shared watch's blocking queries: the index of
// health/state/any (checksEndpoint) moves with every change of a check (its
// status or output, or a check added or removed with its service),
// catalog/services' with every service instance registered, changed or
// removed (with checks or without), and catalog/nodes' with every change
// of a node (its address, which services without their own address take).
// A service's health entries change only in a write that moves one of
// them. The catalog endpoints are asked with a filter that matches no entry
// (every entry has a node name), so that an answer carries an index and no
// body however large the catalog is: their answers cannot say which service
// changed, and a move of either concerns every service. health/state/any
// answers with the checks themselves, unless they would cost more than
// asking about every service: then it is asked as they are (see
// checkWatch).
var changeEndpoints = []string{checksEndpoint, "/v1/catalog/services", "/v1/catalog/nodes"}

const changeFilter = `Node == ""`

// sharedLinger is how long the shared watch's queries go on after the last
// Watch on them returned, so that the Watch a cache starts right after the
// last one ended (or after its back-off) finds them running; and how long a
// service stays in the checks' filter after its last Watch returned.
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
// new one, each time a move may concern every service (the index of a
// catalog endpoint moved; the first answer of a query; a failure), and a
// service's changed each time a change of checks concerns that service,
// while at least one Watch waits on it (and sharedLinger after the last one
// left).
type shared struct {
	r   *Registry
	raw Raw

	mu        sync.Mutex
	moved     chan struct{}
	services  map[string]*sharedService // the services whose Watches wait here, and those that left lately
	watchers  int
	filtered  string             // the filter of checkWatch's last answer
	answers   checkAnswers       // what checkWatch's answers were
	maxFilter int                // maxChecksFilter; tests lower it
	idle      uint64             // times watchers fell to zero: see leave
	stop      context.CancelFunc // of the running queries; nil when none run
}

// sharedService is a service on the shared watch.
type sharedService struct {
	watchers int
	parked   int           // Watches waiting on changed and moved, their answer in hand: see park
	changed  chan struct{} // closed by a change of checks that concerns the service
	left     time.Time     // when watchers fell to zero
	nodes    []string      // of its instances, passing or not, at its last query
	// names are the names its instances are registered under, at its last
	// query, those that differ from the name it is watched by: Consul
	// matches a service's name without regard to case (a route's "Web"
	// finds the instances of "web"), and their checks carry the
	// registered name, which checkWatch's filter must name and its
	// answers' changes are told by.
	names []string
}

func newShared(r *Registry, raw Raw) *shared {
	return &shared{r: r, raw: raw, moved: make(chan struct{}), services: make(map[string]*sharedService), maxFilter: maxChecksFilter}
}

// join counts a Watch of service in, starts the queries if none run, and
// returns the channels that the next move of every service and the next
// change of service's checks close.
func (s *shared) join(service string) (all, mine <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers++
	svc := s.services[service]
	if svc == nil {
		svc = &sharedService{changed: make(chan struct{})}
		s.services[service] = svc
	}
	svc.watchers++
	if s.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		for _, endpoint := range changeEndpoints {
			go s.follow(ctx, endpoint)
		}
	}
	return s.moved, svc.changed
}

// leave counts a Watch of service out; sharedLinger after the last one
// left, the queries stop unless another joined meanwhile.
func (s *shared) leave(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.services[service]; svc != nil {
		if svc.watchers--; svc.watchers == 0 {
			svc.left = s.r.now()
		}
	}
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

// current returns the channels that the next move of every service and the
// next change of service's checks close; service has joined.
func (s *shared) current(service string) (all, mine <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moved, s.services[service].changed
}

// bump wakes the Watches of every service.
func (s *shared) bump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.moved)
	s.moved = make(chan struct{})
	for _, svc := range s.services {
		svc.parked = 0
	}
}

// bumpServices wakes the Watches of the given services, named as they
// are watched or as their instances are registered.
func (s *shared) bumpServices(services map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for service, svc := range s.services {
		if services[service] || slices.ContainsFunc(svc.names, func(n string) bool { return services[n] }) {
			close(svc.changed)
			svc.changed = make(chan struct{})
			svc.parked = 0
		}
	}
}

// watched returns the names of the services on the shared watch, and of
// those whose last Watch left less than sharedLinger ago (each as it is
// watched, and as its instances are registered), sorted, and the nodes of
// their instances, sorted; it forgets the other services.
func (s *shared) watched() (services, nodes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.r.now()
	for service, svc := range s.services {
		if svc.watchers == 0 && now.Sub(svc.left) >= sharedLinger {
			delete(s.services, service)
		}
	}
	return s.watchedLocked()
}

// watchedLocked returns the names of the services on the shared watch and
// the nodes of their instances, each sorted.
func (s *shared) watchedLocked() (services, nodes []string) {
	services = make([]string, 0, len(s.services))
	for service, svc := range s.services {
		services = append(services, service)
		services = append(services, svc.names...)
		nodes = append(nodes, svc.nodes...)
	}
	slices.Sort(services)
	slices.Sort(nodes)
	return slices.Compact(services), slices.Compact(nodes)
}

// hosts records the nodes of service's instances, passing or not, and the
// names they are registered under that differ from service; service has
// joined.
func (s *shared) hosts(service string, nodes, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.services[service]; svc != nil {
		svc.nodes, svc.names = nodes, names
	}
}

// park counts a Watch of service waiting on all and mine in (d = 1), or
// out (d = -1), unless a move closed either: the move counted the Watches
// waiting on them out, and one that comes to wait on a closed channel
// waits for nothing.
func (s *shared) park(service string, all, mine <-chan struct{}, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.services[service]; s.moved == all && svc.changed == mine {
		svc.parked += d
	}
}

// checkAnswers tells what checkWatch's answers were.
type checkAnswers struct {
	count      uint64 // answers so far, each counted once the Watches it concerned were woken
	index      uint64 // checksEndpoint's, at the last one
	probing    bool   // checkWatch probes after the last one (see checkWatch.probing)
	checkedFor int    // the services on the shared watch at the last answer that carried the checks
}

// answered records the filter and index of checkWatch's last answer,
// whether it probes after it, and, when the answer carried the checks
// (checkedFor is not negative), how many services it was asked for; and
// counts it.
func (s *shared) answered(filter string, index uint64, probing bool, checkedFor int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filtered = filter
	s.answers.count++
	s.answers.index, s.answers.probing = index, probing
	if checkedFor >= 0 {
		s.answers.checkedFor = checkedFor
	}
}

// checkAnswers returns what checkWatch's answers have been so far.
func (s *shared) checkAnswers() checkAnswers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers
}

// settled reports whether n Watches are on the shared watch, every one
// waiting for a move with its service's answer in hand (no query of the
// shared watch's services is in flight or about to start), and whether
// checkWatch's last answer was filtered for their services and their
// instances' nodes.
func (s *shared) settled(n int) (waiting, covered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parked := 0
	for _, svc := range s.services {
		parked += svc.parked
	}
	services, nodes := s.watchedLocked()
	return s.watchers == n && parked == n, s.filtered == checksFilter(services, nodes, s.maxFilter)
}

// follow runs the blocking queries of endpoint until ctx ends, paced as a
// service's are (the endpoint, which starts with a slash, is no service's
// name). The first answer of a catalog endpoint counts as a move, since a
// change may have come between a Watch's query and it (checkWatch does the
// same with its first answer); so does the first failure of a series, so
// that the Watches ask again and report the agent's failure themselves.
// After a failure it backs off with full jitter, as registry.Cache does,
// and starts again from index zero.
func (s *shared) follow(ctx context.Context, endpoint string) {
	r := s.r
	ask := func(ctx context.Context, index uint64) (uint64, error) {
		next, err := s.probe(ctx, endpoint, index)
		if err == nil && next != index {
			s.bump()
		}
		return next, err
	}
	if endpoint == checksEndpoint {
		ask = (&checkWatch{s: s}).ask
	}
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
		next, err := ask(ctx, index)
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
		case next == index:
			if r.waitUntil(ctx, start.Add(MinWatchInterval)) != nil {
				return
			}
		}
		failures, index = 0, next
	}
}

// probe is one blocking query on a catalog endpoint from index, bounded as
// Watch's are; it returns the endpoint's index, never zero.
func (s *shared) probe(ctx context.Context, endpoint string, index uint64) (uint64, error) {
	var body json.RawMessage
	return s.read(ctx, endpoint, index, changeFilter, &body)
}

// read is one blocking query on endpoint from index (none from zero) with
// filter, into out, bounded as Watch's are; it returns the endpoint's
// index, never zero.
func (s *shared) read(ctx context.Context, endpoint string, index uint64, filter string, out any) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.r.timeout(index))
	defer cancel()
	q := s.r.query(ctx)
	q.WaitIndex, q.WaitTime, q.Filter = index, s.r.wait, filter
	meta, err := s.raw.Query(endpoint, out, q)
	if err != nil {
		return 0, err
	}
	return max(meta.LastIndex, 1), nil
}

// watchShared is Watch on the shared watch: it asks for service at once,
// and again each time the shared watch says a change may concern it, until
// the service's index differs from index; after the wait time it returns
// the unchanged snapshot, as a blocking query does.
func (r *Registry) watchShared(ctx context.Context, service string, index uint64) (registry.Snapshot, error) {
	all, mine := r.shared.join(service)
	defer r.shared.leave(service)
	timeout := r.after(r.wait)
	for {
		snap, err := r.fetchShared(ctx, service)
		if err != nil || snap.Index != index {
			return snap, err
		}
		r.shared.park(service, all, mine, 1)
		select {
		case <-all:
		case <-mine:
		case <-timeout:
			r.shared.park(service, all, mine, -1)
			return snap, nil
		case <-ctx.Done():
			r.shared.park(service, all, mine, -1)
			return snap, ctx.Err()
		}
		all, mine = r.shared.current(service)
	}
}

// fetchShared is fetch for the shared watch: it asks for every instance of
// service, passing or not, keeps those whose every check passes (as
// Consul's passing filter does), and records the nodes of all of them, so
// that checkWatch asks for their node checks: an instance without checks
// of its own fails only with its node's, and one whose node check fails
// at this query must be seen when it passes again.
func (r *Registry) fetchShared(ctx context.Context, service string) (registry.Snapshot, error) {
	return r.inFetch(ctx, func(ctx context.Context) (registry.Snapshot, error) { return r.sharedQuery(ctx, service) })
}

// sharedQuery is fetchShared's query, in its place.
func (r *Registry) sharedQuery(ctx context.Context, service string) (registry.Snapshot, error) {
	entries, meta, err := r.health.Service(service, "", false, r.query(ctx))
	if err != nil {
		return registry.Snapshot{}, ctxErr(ctx, err)
	}
	nodes := make([]string, 0, len(entries))
	var names []string // Consul matched service without regard to case: see sharedService.names
	passing := make([]*api.ServiceEntry, 0, len(entries))
	for _, e := range entries {
		if e == nil {
			continue
		}
		if e.Node != nil {
			nodes = append(nodes, e.Node.Node)
		}
		if e.Service != nil && e.Service.Service != service && !slices.Contains(names, e.Service.Service) {
			names = append(names, e.Service.Service)
		}
		if !slices.ContainsFunc(e.Checks, func(c *api.HealthCheck) bool { return c == nil || c.Status != api.HealthPassing }) {
			passing = append(passing, e)
		}
	}
	r.shared.hosts(service, nodes, names)
	return registry.Snapshot{Nodes: nodesFromEntries(passing), Index: max(meta.LastIndex, 1)}, nil
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
	return r.inFetch(ctx, func(ctx context.Context) (registry.Snapshot, error) { return r.watch(ctx, service, 0) })
}

// inFetch runs query in one of the MaxFetches places, bounded by
// FirstQueryTimeout with the wait for the place.
func (r *Registry) inFetch(ctx context.Context, query func(context.Context) (registry.Snapshot, error)) (registry.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.first)
	defer cancel()
	if err := r.takeFetch(ctx); err != nil {
		return registry.Snapshot{}, err
	}
	defer func() { <-r.fetches }()
	return query(ctx)
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
