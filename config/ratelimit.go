package config

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/middleware"
)

// RateLimit is a route's per-client rate limit: a token bucket per key.
type RateLimit struct {
	// RPS is the sustained rate allowed per key, in requests per second.
	RPS float64 `yaml:"rps"`
	// Burst is how many requests a quiet key may send at once. Default:
	// RPS rounded up, at least 1.
	Burst int `yaml:"burst"`
	// Key is ip (the default), subject, or header:NAME.
	Key string `yaml:"key"`
	// MaxWait is how long a request over the limit may wait for its turn,
	// within its budget. Default 0s: refused at once.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxKeys bounds the keys remembered. Default 100000.
	MaxKeys int `yaml:"max_keys"`
	// Global keeps the limit in Redis, shared by every replica, instead
	// of in each replica (redis.go).
	Global bool `yaml:"global"`
	// Fallback is what a global limit does without Redis: open (the
	// default: each replica admits its share) or closed (503).
	Fallback string `yaml:"fallback"`
}

func (c *Config) applyRateLimitDefaults() {
	for i := range c.Routes {
		rl := c.Routes[i].RateLimit
		if rl == nil {
			continue
		}
		if rl.Burst == 0 && rl.RPS > 0 && rl.RPS < 1e9 {
			rl.Burst = max(1, int(math.Ceil(rl.RPS)))
		}
		if rl.Key == "" {
			rl.Key = "ip"
		}
		if rl.MaxKeys == 0 {
			rl.MaxKeys = middleware.DefaultMaxKeys
		}
	}
}

// validateEdge checks trusted_proxies, auth and each route's auth and
// rate_limit, and builds the verifiers.
func (c *Config) validateEdge() error {
	if err := c.validateRedis(); err != nil {
		return err
	}
	for i, p := range c.TrustedProxies {
		if _, err := middleware.ParseTrustedProxies([]string{p}); err != nil {
			return c.errorAt(fmt.Sprintf("trusted_proxies[%d]", i), "%q is neither a CIDR prefix nor an IP address", p)
		}
	}
	proxies, err := middleware.ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return c.errorAt("trusted_proxies", "%v", err)
	}
	c.proxies = proxies
	if err := c.buildAllowFrom(); err != nil {
		return err
	}
	if err := c.buildVerifiers(); err != nil {
		return err
	}
	if err := c.buildAPIKeys(); err != nil {
		return err
	}
	if err := c.buildCORS(); err != nil {
		return err
	}
	if err := c.buildHeaders(); err != nil {
		return err
	}
	if err := c.buildRequireClaims(); err != nil {
		return err
	}
	if err := c.buildCompress(); err != nil {
		return err
	}
	for i, r := range c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		if r.Auth != "" && c.verifiers[r.Auth] == nil && c.apiKeys[r.Auth] == nil {
			return c.errorAt(path+".auth", "unknown auth %q (auth.jwt and auth.api_keys declare: %s)", r.Auth, c.providerNames())
		}
		rl := r.RateLimit
		if rl == nil {
			continue
		}
		path += ".rate_limit"
		if !(rl.RPS > 0) || math.IsInf(rl.RPS, 0) {
			return c.errorAt(path+".rps", "must be a number above 0")
		}
		if rl.Burst < 1 {
			return c.errorAt(path+".burst", "must be at least 1")
		}
		if rl.MaxKeys < 1 {
			return c.errorAt(path+".max_keys", "must be at least 1")
		}
		key, err := middleware.ParseRateLimitKey(rl.Key, c.proxies)
		if err != nil {
			return c.errorAt(path+".key", "%v", err)
		}
		if key.NeedsIdentity() && r.Auth == "" {
			return c.errorAt(path+".key", "key subject needs the route to authenticate: set its auth")
		}
		if err := c.validateGlobalLimit(path, rl); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) providerNames() string {
	names := make([]string, 0, len(c.Auth.JWT)+len(c.Auth.APIKeys))
	for n := range c.Auth.JWT {
		names = append(names, n)
	}
	for n := range c.Auth.APIKeys {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Proxies returns the parsed trusted_proxies.
func (c *Config) Proxies() *middleware.TrustedProxies { return c.proxies }

// buildAllowFrom parses each route's allow_from.
func (c *Config) buildAllowFrom() error {
	c.allowFrom = make([]*middleware.Networks, len(c.Routes))
	for i, r := range c.Routes {
		if len(r.AllowFrom) == 0 {
			continue
		}
		for j, n := range r.AllowFrom {
			if _, err := middleware.ParseNetworks([]string{n}); err != nil {
				return c.errorAt(fmt.Sprintf("routes[%d].allow_from[%d]", i, j), "%q is neither a CIDR prefix nor an IP address", n)
			}
		}
		c.allowFrom[i], _ = middleware.ParseNetworks(r.AllowFrom)
	}
	return nil
}

// RouteAllowFrom returns the networks whose clients route i serves, or nil
// when it serves any client.
func (c *Config) RouteAllowFrom(i int) *middleware.Networks {
	if i < len(c.allowFrom) {
		return c.allowFrom[i]
	}
	return nil
}

// RouteRateLimit returns the limiter settings and the policy of route i's
// per-replica rate limit (the policy without OnLimited), and false when it
// has none or a global one (RouteGlobalRateLimit).
func (c *Config) RouteRateLimit(i int) (middleware.RateLimitSettings, middleware.RateLimitPolicy, bool) {
	r := c.Routes[i]
	rl := r.RateLimit
	if rl == nil || rl.Global {
		return middleware.RateLimitSettings{}, middleware.RateLimitPolicy{}, false
	}
	key, _ := middleware.ParseRateLimitKey(rl.Key, c.proxies) // checked at load
	return middleware.RateLimitSettings{RPS: rl.RPS, Burst: rl.Burst, MaxKeys: rl.MaxKeys},
		middleware.RateLimitPolicy{Key: key, MaxWait: rl.MaxWait, Budget: budget.Policy{
			Timeout: r.Budget.Timeout, Max: r.Budget.Max, Min: r.Budget.Min,
			AllowRaise: r.Budget.AllowRaise != nil && *r.Budget.AllowRaise}}, true
}
