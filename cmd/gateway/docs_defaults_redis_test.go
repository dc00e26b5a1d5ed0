package main

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// The defaults of the redis block and of global rate limits, for
// TestConfigurationDocDefaults: read from a configuration that adds a redis
// block naming only its address, and makes the first route's limit global.
func init() {
	redis := func(t *testing.T) *config.Config {
		text := strings.Replace(minimalConfig(keyFile(t)), "rate_limit: {rps: 2.5}", "rate_limit: {rps: 2.5, global: true}", 1)
		return load(t, text+"redis: {address: \"127.0.0.1:6379\"}\n")
	}
	codeDefaults["routes[].rate_limit.global"] = func(_ *testing.T, c *config.Config) any { return c.Routes[0].RateLimit.Global }
	codeDefaults["routes[].rate_limit.fallback"] = func(t *testing.T, _ *config.Config) any {
		return redis(t).Routes[0].RateLimit.Fallback
	}
	codeDefaults["redis.db"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.DB }
	codeDefaults["redis.timeout"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.Timeout }
	codeDefaults["redis.failures"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.Failures }
	codeDefaults["redis.cooldown"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.Cooldown }
	codeDefaults["redis.pool_size"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.PoolSize }
	codeDefaults["redis.key_prefix"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.KeyPrefix }
	codeDefaults["redis.replicas"] = func(t *testing.T, _ *config.Config) any { return redis(t).Redis.Replicas }
}
