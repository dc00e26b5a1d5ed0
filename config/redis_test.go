package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/redislimit"
)

const redisRoutes = "routes:\n  - path: /a\n    service: svc\n    rate_limit: {rps: 100, burst: 10, global: true}\n" +
	"  - path: /b\n    service: svc\n    rate_limit: {rps: 10, global: true, fallback: closed}\n" +
	"  - path: /c\n    service: svc\n    rate_limit: {rps: 10}\n"

// TestRedisDefaultsAndShares: a redis block takes the documented defaults,
// a global limit fails open by default, and gives the limit its share is
// made of.
func TestRedisDefaultsAndShares(t *testing.T) {
	t.Setenv("SLUICE_TEST_REDIS_PASSWORD", "s3cret")
	c, err := config.Parse("gw.yaml", []byte(nodes+"redis: {address: \"127.0.0.1:6379\", replicas: 3, password_env: SLUICE_TEST_REDIS_PASSWORD}\n"+redisRoutes))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := c.RedisOptions()
	want := redislimit.Options{Addr: "127.0.0.1:6379", Password: "s3cret", Timeout: 5 * time.Millisecond,
		Failures: 3, Cooldown: 500 * time.Millisecond, Prefix: "sluice:rl:"}
	if !ok || fmt.Sprintf("%+v", o) != fmt.Sprintf("%+v", want) {
		t.Fatalf("RedisOptions = %+v, %v; want %+v", o, ok, want)
	}
	p, share, ok := c.RouteGlobalRateLimit(0)
	if !ok || p.RPS != 100 || p.Burst != 10 || p.Fallback != middleware.FailOpen ||
		share.RPS != 100 || share.Burst != 10 || share.MaxKeys != middleware.DefaultMaxKeys || c.Redis.Replicas != 3 {
		t.Fatalf("route 0: %+v, share %+v, %v", p, share, ok)
	}
	if p, _, ok := c.RouteGlobalRateLimit(1); !ok || p.Fallback != middleware.FailClosed {
		t.Fatalf("route 1: %+v, %v", p, ok)
	}
	if _, _, ok := c.RouteGlobalRateLimit(2); ok {
		t.Fatal("route 2 is per replica, not global")
	}
	if _, _, ok := c.RouteRateLimit(0); ok {
		t.Fatal("route 0 is global: no per-replica limiter")
	}
	if _, _, ok := c.RouteRateLimit(2); !ok {
		t.Fatal("route 2 lost its per-replica limit")
	}
}

func TestRedisErrorsPointAtTheField(t *testing.T) {
	route := func(rl string) string {
		return "routes:\n  - path: /a\n    service: svc\n    rate_limit: " + rl + "\n"
	}
	redis := "redis: {address: \"127.0.0.1:6379\"}\n"
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"global without redis", nodes + route("{rps: 1, global: true}"), "routes[0].rate_limit.global", "add a top-level redis block"},
		{"bad fallback", nodes + redis + route("{rps: 1, global: true, fallback: maybe}"), "routes[0].rate_limit.fallback", `must be open or closed, not "maybe"`},
		{"fallback without global", nodes + redis + route("{rps: 1, fallback: closed}"), "routes[0].rate_limit.fallback", "global limit only"},
		{"max_wait with global", nodes + redis + route("{rps: 1, global: true, max_wait: 10ms}"), "routes[0].rate_limit.max_wait", "per-replica limit only"},
		{"no address", nodes + "redis: {db: 1}\n", "redis.address", ""},
		{"slow timeout", nodes + "redis: {address: \"127.0.0.1:6379\", timeout: 3s}\n", "redis.timeout", "at most 1s"},
		{"negative replicas", nodes + "redis: {address: \"127.0.0.1:6379\", replicas: -1}\n", "redis.replicas", "0 (counted through Redis) or more"},
		{"password env unset", nodes + "redis: {address: \"127.0.0.1:6379\", password_env: SLUICE_TEST_UNSET_VAR}\n", "redis.password_env", "SLUICE_TEST_UNSET_VAR is not set"},
		{"unknown field", nodes + "redis: {address: \"127.0.0.1:6379\", passwd: x}\n", "redis", "passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("gw.yaml", []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			if !strings.HasPrefix(ce.Path, tt.path) || !strings.Contains(ce.Msg, tt.msg) || ce.Line == 0 {
				t.Errorf("got %v (path %q, line %d), want %s: …%s…", err, ce.Path, ce.Line, tt.path, tt.msg)
			}
		})
	}
}
