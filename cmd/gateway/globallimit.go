package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/promhist"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/redislimit"
)

// warmTimeout bounds the connection and script load a new Redis store
// makes in the background; decisions fall back until Redis answers.
const warmTimeout = 2 * time.Second

// reloadPingTimeout bounds how long a reload waits for the Redis of a
// changed redis block to answer before it refuses the block.
const reloadPingTimeout = time.Second

// globalLimits keeps what the routes' global rate limits need across
// reloads: the Redis store (one per redis block; a reload that leaves the
// block alone keeps its pool and breaker) and the metrics.
type globalLimits struct {
	logger    *slog.Logger
	decisions *prometheus.CounterVec
	latency   *promhist.Vec
	// stores are by redis block; only the goroutine that installs routers
	// touches them. next is the store the routes last built use.
	stores map[config.Redis]*redislimit.Store
	next   *redislimit.Store
	// shares are the fail-open shares of the routes serving, by route,
	// limit and redis block; nextShares those the routes last built use.
	shares, nextShares map[shareID]*middleware.LocalShare
	// current is the store of the routes serving, for the breaker gauge.
	current atomic.Pointer[redislimit.Store]
	// replica names this process in the replica count, whichever store
	// counts: a store made on a reload says it is alive as the one it
	// replaces did, and is not counted as another replica.
	replica string
}

func newGlobalLimits(reg prometheus.Registerer, logger *slog.Logger) *globalLimits {
	g := &globalLimits{
		logger: logger,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rate_limit_decisions_total",
			Help: "Decisions of routes' global rate limits, by route and source: global (Redis decided), local (Redis could not: the replica's share decided) or closed (Redis could not: 503).",
		}, []string{"route", "source"}),
		latency: promhist.NewVec("sluice_rate_limit_decision_seconds",
			"Time a global rate limit took to decide a request, by source.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}, []string{"source"}),
		stores:  map[config.Redis]*redislimit.Store{},
		shares:  map[shareID]*middleware.LocalShare{},
		replica: replicaID(),
	}
	breaker := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sluice_redis_breaker_open",
		Help: "1 while this replica sends no rate limit decision to Redis (it failed; a background probe waits for it to answer), 0 otherwise or without Redis.",
	}, func() float64 {
		if s := g.current.Load(); s != nil && s.State() == redislimit.StateOpen {
			return 1
		}
		return 0
	})
	reg.MustRegister(g.decisions, g.latency, breaker)
	return g
}

// store returns the store of cfg's redis block, making it (and warming it
// in the background) when the block is new.
func (g *globalLimits) store(cfg *config.Config) (*redislimit.Store, error) {
	key := *cfg.Redis
	if s := g.stores[key]; s != nil {
		g.next = s
		return s, nil
	}
	opts, _ := cfg.RedisOptions()
	opts.Logger = g.logger
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := redislimit.New(opts)
	if err != nil {
		return nil, err
	}
	if err := g.answers(s, cfg); err != nil {
		_ = s.Close()
		return nil, err
	}
	g.stores[key], g.next = s, s
	if cfg.Redis.Replicas == 0 {
		// The fleet is as big as the store it replaces last counted, until
		// this one counts: a reload while Redis is away does not make each
		// replica take the whole limit.
		if prev := g.current.Load(); prev != nil {
			s.AssumeReplicas(prev.Replicas())
		}
		s.CountReplicas(g.replica)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
		defer cancel()
		if err := s.Warm(ctx); err != nil {
			g.logger.Warn("redis not reachable yet: global rate limits fall back until it is", "address", opts.Addr, "error", err)
		}
	}()
	return s, nil
}

// answers refuses the store s of a reload's changed redis block when its
// Redis does not answer within reloadPingTimeout while the Redis of the
// routes serving does: a typo in redis.address would otherwise be applied,
// and every fail-closed route answer 503 (fail-open ones decide alone)
// until the next reload. A gateway that starts, or whose Redis is away
// too, takes the block: there is no working Redis to keep.
func (g *globalLimits) answers(s *redislimit.Store, cfg *config.Config) error {
	cur := g.current.Load()
	if cur == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadPingTimeout)
	defer cancel()
	err := s.Warm(ctx)
	if err == nil {
		return nil
	}
	ctx, cancel = context.WithTimeout(context.Background(), reloadPingTimeout)
	defer cancel()
	if cur.Warm(ctx) != nil {
		return nil
	}
	return cfg.RedisError("%s does not answer, where the running configuration's Redis does (%v)", cfg.Redis.Address, err)
}

// shareID is what a fail-open share depends on: the route and its limit,
// and the redis block (its store and its replica count).
type shareID struct {
	limiterID
	redis config.Redis
}

// share returns the fail-open share of the global limit full (route id),
// kept across reloads that change neither the limit nor the redis block:
// the limit divided by redis.replicas, or, when that is 0, by the replicas
// store counts through Redis.
func (g *globalLimits) share(id limiterID, full middleware.RateLimitSettings, cfg *config.Config, store *redislimit.Store) (*middleware.LocalShare, error) {
	sid := shareID{limiterID: id, redis: *cfg.Redis}
	if g.nextShares == nil {
		g.nextShares = map[shareID]*middleware.LocalShare{}
	}
	if l := g.shares[sid]; l != nil {
		g.nextShares[sid] = l
		return l, nil
	}
	count := store.Replicas
	if n := cfg.Redis.Replicas; n > 0 {
		count = func() int { return n }
	}
	l, err := middleware.NewLocalShare(full, count)
	if err != nil {
		return nil, err
	}
	g.nextShares[sid] = l
	return l, nil
}

// replicaID names this process in the replica count: host, process and a
// random part, so that a restarted replica is a new one (the old one is
// forgotten after three heartbeats). A gateway makes one, at start.
func replicaID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// policy completes route name's policy p with its local share and the
// metrics.
func (g *globalLimits) policy(name string, p middleware.GlobalRateLimitPolicy, local *middleware.LocalShare) middleware.GlobalRateLimitPolicy {
	p.Name = name
	p.Local = local
	counters := map[string]prometheus.Counter{}
	observers := map[string]prometheus.Observer{}
	for _, src := range []string{middleware.SourceGlobal, middleware.SourceLocal, middleware.SourceClosed} {
		counters[src] = g.decisions.WithLabelValues(name, src)
		observers[src] = g.latency.WithLabelValues(src)
	}
	p.OnDecision = func(d time.Duration, src string) {
		counters[src].Inc()
		observers[src].Observe(d.Seconds())
	}
	return p
}

// commit closes the stores the installed routes no longer use.
func (g *globalLimits) commit() {
	for k, s := range g.stores {
		if s != g.next {
			delete(g.stores, k)
			_ = s.Close()
		}
	}
	g.current.Store(g.next)
	g.next = nil
	g.shares, g.nextShares = g.nextShares, nil
	if g.shares == nil {
		g.shares = map[shareID]*middleware.LocalShare{}
	}
}
