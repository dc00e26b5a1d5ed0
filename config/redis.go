package config

import (
	"os"
	"time"

	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/redislimit"
)

// Redis is where global rate limits are kept: one Redis that every replica
// of the gateway shares (docs/ratelimit.md).
type Redis struct {
	// Address is Redis's host:port.
	Address string `yaml:"address"`
	// Username is the ACL user; empty means the default user.
	Username string `yaml:"username"`
	// PasswordEnv names the environment variable holding the password;
	// empty means none.
	PasswordEnv string `yaml:"password_env"`
	// DB is the database number. Default 0.
	DB int `yaml:"db"`
	// Timeout bounds each limiter decision made with Redis (dial, pool
	// wait and round trip). Default 5ms.
	Timeout time.Duration `yaml:"timeout"`
	// Failures is how many consecutive failed decisions make the gateway
	// stop sending decisions to Redis until a background probe finds it
	// back. Default 3.
	Failures int `yaml:"failures"`
	// Cooldown is how often that probe tries Redis (and how long each try
	// may wait). Default 500ms.
	Cooldown time.Duration `yaml:"cooldown"`
	// PoolSize is the most connections to Redis. Default 0: go-redis's,
	// 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// KeyPrefix starts every key the gateway writes. Default "sluice:rl:".
	KeyPrefix string `yaml:"key_prefix"`
	// Replicas is how many gateway replicas share the limits: without
	// Redis, a fail-open route lets each replica admit its share, the
	// limit divided by the replicas. Default 0: counted through Redis
	// (each replica says it is alive every second; the last count is kept
	// while Redis is away).
	Replicas int `yaml:"replicas"`

	password string
}

// Fallbacks of a global rate limit.
const (
	FallbackOpen   = "open"
	FallbackClosed = "closed"
)

// maxRedisTimeout bounds redis.timeout: a decision slower than this is no
// longer "a few milliseconds of the budget".
const maxRedisTimeout = time.Second

func (c *Config) applyRedisDefaults() {
	if r := c.Redis; r != nil {
		r.Timeout = or(r.Timeout, redislimit.DefaultTimeout)
		r.Failures = or(r.Failures, redislimit.DefaultFailures)
		r.Cooldown = or(r.Cooldown, redislimit.DefaultCooldown)
		r.KeyPrefix = or(r.KeyPrefix, redislimit.DefaultPrefix)
	}
	for i := range c.Routes {
		if rl := c.Routes[i].RateLimit; rl != nil && rl.Global && rl.Fallback == "" {
			rl.Fallback = FallbackOpen
		}
	}
}

// validateRedis checks the redis block and reads its password.
func (c *Config) validateRedis() error {
	r := c.Redis
	if r == nil {
		return nil
	}
	if err := checkAddress(r.Address); err != nil {
		return c.errorAt("redis.address", "%v", err)
	}
	switch {
	case r.DB < 0:
		return c.errorAt("redis.db", "must not be negative")
	case r.Timeout < 0 || r.Timeout > maxRedisTimeout:
		return c.errorAt("redis.timeout", "must be above 0s and at most %v: it bounds a limiter decision", maxRedisTimeout)
	case r.Failures < 1:
		return c.errorAt("redis.failures", "must be at least 1")
	case r.Cooldown < 0:
		return c.errorAt("redis.cooldown", "must be above 0s")
	case r.PoolSize < 0:
		return c.errorAt("redis.pool_size", "must not be negative")
	case r.Replicas < 0:
		return c.errorAt("redis.replicas", "must be 0 (counted through Redis) or more")
	}
	if r.PasswordEnv != "" {
		v, ok := os.LookupEnv(r.PasswordEnv)
		if !ok || v == "" {
			return c.errorAt("redis.password_env", "environment variable %s is not set", r.PasswordEnv)
		}
		r.password = v
	}
	return nil
}

// validateGlobalLimit checks the global fields of route i's rate limit at
// path.
func (c *Config) validateGlobalLimit(path string, rl *RateLimit) error {
	if !rl.Global {
		if rl.Fallback != "" {
			return c.errorAt(path+".fallback", "applies to a global limit only: set global: true")
		}
		return nil
	}
	if c.Redis == nil {
		return c.errorAt(path+".global", "a global limit is kept in Redis: add a top-level redis block")
	}
	if rl.Fallback != FallbackOpen && rl.Fallback != FallbackClosed {
		return c.errorAt(path+".fallback", "must be open or closed, not %q", rl.Fallback)
	}
	if rl.MaxWait != 0 {
		return c.errorAt(path+".max_wait", "a global limit refuses at once: max_wait applies to a per-replica limit only")
	}
	return nil
}

// RedisError returns an error at redis.address, with its line and column:
// for what the gateway finds when it tries the Redis the block names.
func (c *Config) RedisError(format string, args ...any) error {
	return c.errorAt("redis.address", format, args...)
}

// RedisOptions returns the options of the Redis store, and false when the
// configuration has no redis block.
func (c *Config) RedisOptions() (redislimit.Options, bool) {
	r := c.Redis
	if r == nil {
		return redislimit.Options{}, false
	}
	return redislimit.Options{Addr: r.Address, Username: r.Username, Password: r.password, DB: r.DB,
		Timeout: r.Timeout, PoolSize: r.PoolSize, Failures: r.Failures, Cooldown: r.Cooldown, Prefix: r.KeyPrefix}, true
}

// RouteGlobalRateLimit returns route i's global rate limit policy (without
// Name, Scope, Local and the callbacks, which the caller sets) and the
// limit's settings, of which a replica's fail-open share
// (middleware.LocalShare) is the part redis.replicas (or the count of
// replicas) gives; false when the route has no global limit.
func (c *Config) RouteGlobalRateLimit(i int) (middleware.GlobalRateLimitPolicy, middleware.RateLimitSettings, bool) {
	rl := c.Routes[i].RateLimit
	if rl == nil || !rl.Global {
		return middleware.GlobalRateLimitPolicy{}, middleware.RateLimitSettings{}, false
	}
	key, _ := middleware.ParseRateLimitKey(rl.Key, c.proxies) // checked at load
	p := middleware.GlobalRateLimitPolicy{Key: key, RPS: rl.RPS, Burst: rl.Burst, Fallback: middleware.FailOpen}
	if rl.Fallback == FallbackClosed {
		p.Fallback = middleware.FailClosed
	}
	return p, middleware.RateLimitSettings{RPS: rl.RPS, Burst: rl.Burst, MaxKeys: rl.MaxKeys}, true
}

func or[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}
