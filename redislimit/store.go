package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/sluicehq/sluice/middleware"
)

// Defaults of Options' zero values.
const (
	// DefaultTimeout bounds one decision: far below any route's budget, and
	// far above a Redis round trip on a local network (well under 1 ms).
	DefaultTimeout = 5 * time.Millisecond
	// DefaultFailures is how many consecutive failed decisions open the
	// breaker.
	DefaultFailures = 3
	// DefaultCooldown is how often the open breaker's background probe
	// tries Redis (and how long each try may wait).
	DefaultCooldown = 500 * time.Millisecond
	// DefaultPrefix starts every key the Store writes.
	DefaultPrefix = "sluice:rl:"
)

// ErrUnavailable is returned, at once, while the breaker is open: Redis
// failed recently and no request tries it before the background probe has
// found it back.
var ErrUnavailable = errors.New("redislimit: redis unavailable (breaker open)")

// Options configure a Store. Zero values take the defaults above.
type Options struct {
	// Addr is Redis's host:port. Required.
	Addr string
	// Username and Password authenticate (AUTH); empty means none.
	Username, Password string
	// DB is the database number.
	DB int
	// Timeout bounds each decision, dial and pool wait included.
	Timeout time.Duration
	// PoolSize is the most connections kept; zero is go-redis's default
	// (10 per CPU).
	PoolSize int
	// Failures is how many consecutive failures open the breaker.
	Failures int
	// Cooldown is how often the open breaker's probe tries Redis.
	Cooldown time.Duration
	// Prefix starts every key.
	Prefix string
	// Logger, when not nil, receives go-redis's own messages (a dial that
	// failed, a connection dropped from the pool) at debug level: the
	// breaker and its metric already say when Redis is away, and go-redis
	// would otherwise print them unstructured on standard error. go-redis
	// has one logger per process: the last Store made with one sets it.
	Logger *slog.Logger
}

// Store decides requests against limits kept in Redis. It is safe for
// concurrent use; it implements middleware.GlobalStore.
type Store struct {
	client   *redis.Client
	timeout  time.Duration
	cooldown time.Duration
	prefix   string
	breaker  *breaker
	closed   chan struct{} // closed by Close: ends the probe and the heartbeat
	once     sync.Once
	replicas atomic.Int64 // the last count of replicas (replicas.go)

	warmTried func(error) // tests: told of each of Warm's failed tries
}

var _ middleware.GlobalStore = (*Store)(nil)

// New returns a Store for o. It does not connect: the pool dials on first
// use, and again by itself whenever a connection is lost.
func New(o Options) (*Store, error) {
	if o.Addr == "" {
		return nil, errors.New("redislimit: address is required")
	}
	if o.Timeout < 0 || o.Failures < 0 || o.Cooldown < 0 || o.PoolSize < 0 {
		return nil, errors.New("redislimit: timeout, failures, cooldown and pool size must not be negative")
	}
	o.Timeout = or(o.Timeout, DefaultTimeout)
	o.Failures = or(o.Failures, DefaultFailures)
	o.Cooldown = or(o.Cooldown, DefaultCooldown)
	o.Prefix = or(o.Prefix, DefaultPrefix)
	client := redis.NewClient(&redis.Options{
		Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		// Every wait is bounded by the decision's context: the dial, the
		// pool and the socket. go-redis's own defaults (5 s dial, 3 s
		// reads, retries) would hold a request for seconds while Redis is
		// stopped.
		ContextTimeoutEnabled: true,
		DialTimeout:           max(o.Timeout, 100*time.Millisecond),
		DialerRetries:         1,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		PoolSize:              o.PoolSize,
		// The script is not idempotent: a retry after a timeout could
		// count a request twice. No retries.
		MaxRetries: -1,
		// RESP2 and no CLIENT SETINFO: a new connection is usable without
		// a handshake round trip (AUTH and SELECT only when configured).
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	if o.Logger != nil {
		redis.SetLogger(redisLogger{o.Logger})
	}
	return &Store{client: client, timeout: o.Timeout, cooldown: o.Cooldown, prefix: o.Prefix,
		breaker: &breaker{failures: o.Failures}, closed: make(chan struct{})}, nil
}

// Allow decides one request of key under a limit of rps requests a second
// with bursts of burst, within the Store's timeout. It returns
// ErrUnavailable at once while the breaker is open, and another error when
// Redis fails or is too slow; a caller whose ctx ends first gets ctx's error,
// which does not count against Redis.
func (s *Store) Allow(ctx context.Context, key string, rps float64, burst int) (middleware.RateDecision, error) {
	if !s.breaker.allow() {
		return middleware.RateDecision{}, ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	v, err := gcra.Run(cctx, s.client, []string{s.prefix + key}, 1e6/rps, burst).Result()
	cancel()
	if err != nil && ctx.Err() != nil {
		return middleware.RateDecision{}, ctx.Err() // the client left: not Redis's fault
	}
	var d middleware.RateDecision
	if err == nil {
		d, err = parseGCRA(v)
	} else {
		err = fmt.Errorf("redislimit: %w", err)
	}
	if s.breaker.done(err == nil) {
		go s.probe()
	}
	return d, err
}

// warmRetry is the pause between two of Warm's tries.
const warmRetry = 50 * time.Millisecond

// Warm connects and loads the script, so that the first decisions need
// neither a dial nor a second round trip: a gateway calls it at start, in
// the background, with a deadline of its own. Each command is bounded by
// Options.Timeout, as a decision's are, whatever ctx allows: so Warm tries
// again, every warmRetry, until both have answered in time or ctx ends,
// and returns the last try's error then. A Redis that is slow for a moment
// at start (5 ms is soon passed on a loaded machine) is warmed all the
// same, where one try failed. An error (Redis not there yet) is no reason
// not to serve: decisions fall back until Redis is reachable.
func (s *Store) Warm(ctx context.Context) error {
	for {
		err := s.warmOnce(ctx)
		if err == nil {
			return nil
		}
		if s.warmTried != nil {
			s.warmTried(err)
		}
		t := time.NewTimer(warmRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// warmOnce is one try of Warm's.
func (s *Store) warmOnce(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redislimit: %w", err)
	}
	if err := gcra.Load(ctx, s.client).Err(); err != nil {
		return fmt.Errorf("redislimit: load script: %w", err)
	}
	return nil
}

// State returns the breaker's state: StateClosed or StateOpen.
func (s *Store) State() string { return s.breaker.state() }

// Close ends the probe and closes the connections.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.client.Close()
}

func or[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// redisLogger hands go-redis's messages to a slog.Logger at debug level.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
