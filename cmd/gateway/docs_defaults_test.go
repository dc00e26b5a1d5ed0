package main

import (
	"crypto/tls"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/config/source"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/upstream"
	"github.com/sluicehq/sluice/upstream/h1"
)

// The defaults docs/configuration.md states are checked against the code
// here, in cmd/gateway, the one package that may import every package that
// applies one. Each value comes from what the code does with a minimal
// configuration that leaves the field out: the loaded config, or, where the
// field stays zero and a package below applies its default later, that
// package's Default constant (its zero-means-default rule is its own tests'
// business).

// minimalConfig leaves out every field it can; the route, the service, the
// auth provider and the rate limits are there only to have values to read.
// keyFile is an HMAC secret's file.
func minimalConfig(keyFile string) string {
	return fmt.Sprintf(`admin: {address: "127.0.0.1:0"}
registry:
  static: [{service: s, address: "127.0.0.1:9"}]
services:
  s: {}
auth:
  jwt:
    p: {algorithms: [HS256], keys: [{hmac_secret_file: %q}]}
routes:
  - {path: /p, service: s, auth: p, rate_limit: {rps: 2.5}}
  - {path: /q, service: s, rate_limit: {rps: 0.5}}
`, keyFile)
}

// codeDefault returns the value the code uses for a field left out, in c
// loaded from minimalConfig: a time.Duration, int, float64, bool or string,
// or a []any of them for a default cell that states several literals.
type codeDefault func(t *testing.T, c *config.Config) any

// codeDefaults maps each documented field whose default is a literal to the
// code's value. A row of the docs with a backticked default needs an entry;
// an entry needs such a row.
var codeDefaults = map[string]codeDefault{
	"shutdown_grace": func(_ *testing.T, c *config.Config) any { return c.ShutdownGrace },
	"drain_delay":    func(_ *testing.T, c *config.Config) any { return c.DrainDelay },

	"listeners[].server": func(_ *testing.T, c *config.Config) any {
		return []any{or(c.Listeners[0].Server, defaultRouteServer), or(c.Admin.Server, defaultAdminServer)}
	},
	"listeners[].watch_after": func(_ *testing.T, c *config.Config) any {
		return or(c.Listeners[0].WatchAfter, server.DefaultWatchAfter)
	},
	"listeners[].h2c":            func(_ *testing.T, c *config.Config) any { return c.Listeners[0].H2C },
	"listeners[].redirect_https": func(_ *testing.T, c *config.Config) any { return c.Listeners[0].RedirectHTTPS },
	"listeners[].https_port": func(_ *testing.T, c *config.Config) any {
		return or(c.Listeners[0].HTTPSPort, defaultHTTPSPort)
	},
	// No TLS listener in minimalConfig: what config gives one that leaves
	// the field out.
	"listeners[].tls.min_version": func(_ *testing.T, _ *config.Config) any {
		return strings.TrimPrefix(tls.VersionName((&config.TLS{}).ServerConfig().MinVersion), "TLS ")
	},
	"auth.api_keys.*.header":        func(_ *testing.T, _ *config.Config) any { return middleware.DefaultAPIKeyHeader },
	"routes[].redirect.status":      func(_ *testing.T, _ *config.Config) any { return router.DefaultRedirectStatus },
	"routes[].respond.status":       func(_ *testing.T, _ *config.Config) any { return router.DefaultRespondStatus },
	"routes[].respond.content_type": func(_ *testing.T, _ *config.Config) any { return router.DefaultRespondContentType },
	"services.*.tls.min_version": func(_ *testing.T, _ *config.Config) any {
		return strings.TrimPrefix(tls.VersionName((&config.BackendTLS{}).ClientConfig("s").MinVersion), "TLS ")
	},
	"listeners[].tls.hsts.max_age":            func(_ *testing.T, _ *config.Config) any { return config.DefaultHSTSMaxAge },
	"listeners[].tls.hsts.include_subdomains": func(_ *testing.T, _ *config.Config) any { return config.HSTS{}.IncludeSubdomains },
	"listeners[].tls.acme.directory":          func(t *testing.T, _ *config.Config) any { return acmeDefaults(t).Directory },
	"listeners[].tls.acme.challenge":          func(t *testing.T, _ *config.Config) any { return acmeDefaults(t).Challenge },

	"limits.body_idle_timeout": func(_ *testing.T, c *config.Config) any {
		return or(c.Limits.BodyIdleTimeout, router.DefaultBodyIdleTimeout)
	},
	"limits.write_idle_timeout": func(_ *testing.T, c *config.Config) any {
		return or(c.Limits.WriteIdleTimeout, router.DefaultWriteIdleTimeout)
	},
	"limits.tunnel_idle_timeout": func(_ *testing.T, c *config.Config) any {
		return or(c.Limits.TunnelIdleTimeout, router.DefaultUpgradeIdleTimeout)
	},
	"limits.tunnel_max_lifetime": func(_ *testing.T, c *config.Config) any {
		return or(c.Limits.TunnelMaxLifetime, router.DefaultUpgradeMaxLifetime)
	},
	"limits.max_backend_header_bytes": func(_ *testing.T, c *config.Config) any {
		return or(c.Limits.MaxBackendHeaderBytes, int(h1.DefaultMaxResponseHeaderBytes))
	},
	"limits.max_held_body_bytes": func(_ *testing.T, c *config.Config) any {
		return int(router.NewBodyBudget(c.Limits.MaxHeldBodyBytes).Max())
	},
	"routes[].stream.idle_timeout": func(_ *testing.T, _ *config.Config) any {
		return router.StreamPolicy{}.WithDefaults().IdleTimeout // what RouterRoutes' zero becomes
	},
	"routes[].stream.max_lifetime": func(_ *testing.T, _ *config.Config) any {
		return router.StreamPolicy{}.WithDefaults().MaxLifetime
	},

	"registry.kind":             func(_ *testing.T, c *config.Config) any { return c.Registry.Kind },
	"registry.dns_refresh":      func(_ *testing.T, c *config.Config) any { return c.Registry.DNSRefresh },
	"registry.consul.address":   func(_ *testing.T, c *config.Config) any { return c.Registry.Consul.Address },
	"registry.consul.max_stale": func(_ *testing.T, c *config.Config) any { return c.Registry.Consul.MaxStale }, // the cache's zero: no limit
	"registry.consul.drop_grace": func(_ *testing.T, c *config.Config) any {
		return or(c.Registry.Consul.DropGrace, registry.DefaultDropGrace)
	},

	"upstream.margin":      func(_ *testing.T, c *config.Config) any { return c.Upstream.Margin },
	"upstream.max_retries": func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).MaxRetries },
	"upstream.connect_timeout": func(_ *testing.T, c *config.Config) any {
		if c.Upstream.ConnectTimeout == 0 {
			return upstream.DefaultConnectTimeout
		}
		return c.Upstream.ConnectTimeout
	},
	"upstream.per_try_timeout":    func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).PerTryTimeout },
	"upstream.hedge_after":        func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).HedgeAfter },
	"upstream.retry_budget.ratio": func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).BudgetRatio },
	"upstream.retry_budget.floor": func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).BudgetFloor },
	"upstream.backoff.base":       func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).BackoffBase },
	"upstream.backoff.cap":        func(_ *testing.T, c *config.Config) any { return retryPolicy(c.Upstream).BackoffCap },
	"upstream.breaker.disabled":   func(_ *testing.T, c *config.Config) any { return c.Upstream.Breaker.Disabled },
	"upstream.ejection.disabled":  func(_ *testing.T, c *config.Config) any { return c.Upstream.Ejection.Disabled },
	"upstream.concurrency_limit.disabled": func(_ *testing.T, c *config.Config) any {
		return c.Upstream.ConcurrencyLimit.Disabled
	},
	"upstream.concurrency_limit.min": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.ConcurrencyLimit.Min, upstream.DefaultLimitMin)
	},
	"upstream.concurrency_limit.max": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.ConcurrencyLimit.Max, upstream.DefaultLimitMax)
	},
	"upstream.concurrency_limit.tolerance": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.ConcurrencyLimit.Tolerance, upstream.DefaultLimitTolerance)
	},
	"upstream.breaker.window": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Breaker.Window, upstream.DefaultBreakerWindow)
	},
	"upstream.breaker.min_calls": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Breaker.MinCalls, upstream.DefaultBreakerMinCalls)
	},
	"upstream.breaker.open_for": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Breaker.OpenFor, upstream.DefaultBreakerOpenFor)
	},
	"upstream.ejection.base_time": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Ejection.BaseTime, selector.DefaultEjectBaseTime)
	},
	"upstream.ejection.max_time": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Ejection.MaxTime, selector.DefaultEjectMaxTime)
	},
	"upstream.breaker.failure_ratio": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Breaker.FailureRatio, upstream.DefaultBreakerFailureRatio)
	},
	"upstream.ejection.consecutive_faults": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Ejection.ConsecutiveFaults, selector.DefaultEjectFaults)
	},
	"upstream.ejection.max_ejected_percent": func(_ *testing.T, c *config.Config) any {
		return or(c.Upstream.Ejection.MaxEjectedPercent, selector.DefaultEjectMaxPercent)
	},

	"services.*.strategy": func(t *testing.T, c *config.Config) any { return strategyName(t, c.Services["s"]) },
	"services.*.health_check.interval": func(t *testing.T, _ *config.Config) any {
		return healthCheck(t).Interval
	},
	"services.*.health_check.timeout": func(t *testing.T, _ *config.Config) any { return healthCheck(t).Timeout },
	"services.*.health_check.unhealthy_threshold": func(t *testing.T, _ *config.Config) any {
		return healthCheck(t).UnhealthyThreshold
	},
	"services.*.health_check.healthy_threshold": func(t *testing.T, _ *config.Config) any {
		return healthCheck(t).HealthyThreshold
	},

	"routes[].name": func(_ *testing.T, c *config.Config) any {
		rt := c.RouterRoutes()[0]
		if name := rt.DisplayName(); name != rt.Method+" "+rt.Path {
			return name
		}
		return "METHOD path"
	},
	"routes[].method":     func(_ *testing.T, c *config.Config) any { return c.Routes[0].Method },
	"routes[].idempotent": func(_ *testing.T, c *config.Config) any { return c.RouterRoutes()[0].Idempotent },
	"routes[].budget": func(t *testing.T, c *config.Config) any {
		// A route without a budget takes defaults.budget's, all of it.
		text := strings.Replace(minimalConfig(keyFile(t)), "routes:", "defaults: {budget: {timeout: 3s, max: 4s, min: 2ms, allow_raise: true}}\nroutes:", 1)
		d := load(t, text)
		if b := d.RouterRoutes()[0].Budget; b.Timeout != 3*time.Second || b.Max != 4*time.Second || b.Min != 2*time.Millisecond || !b.AllowRaise {
			return fmt.Sprintf("%+v", b)
		}
		return "defaults.budget"
	},
	"routes[].budget.timeout":     func(_ *testing.T, c *config.Config) any { return c.RouterRoutes()[0].Budget.Timeout },
	"routes[].budget.min":         func(_ *testing.T, c *config.Config) any { return c.RouterRoutes()[0].Budget.MinOrDefault() },
	"routes[].budget.allow_raise": func(_ *testing.T, c *config.Config) any { return c.RouterRoutes()[0].Budget.AllowRaise },

	"routes[].rate_limit.burst": func(_ *testing.T, c *config.Config) any {
		// rps 2.5 and 0.5: rounded up, at least 1.
		for i, want := range []int{3, 1} {
			if s, _, _ := c.RouteRateLimit(i); s.Burst != want || want != max(1, int(math.Ceil(s.RPS))) {
				return fmt.Sprintf("burst %d at rps %v", s.Burst, s.RPS)
			}
		}
		return "rps"
	},
	"routes[].rate_limit.key": func(_ *testing.T, c *config.Config) any { return c.Routes[0].RateLimit.Key },
	"routes[].rate_limit.max_wait": func(_ *testing.T, c *config.Config) any {
		_, p, _ := c.RouteRateLimit(0)
		return p.MaxWait
	},
	"routes[].rate_limit.max_keys": func(_ *testing.T, c *config.Config) any {
		s, _, _ := c.RouteRateLimit(0)
		return or(s.MaxKeys, middleware.DefaultMaxKeys)
	},

	"routes[].cors": func(t *testing.T, c *config.Config) any {
		d := load(t, strings.Replace(minimalConfig(keyFile(t)), "routes:", "defaults: {cors: {origins: [\"https://a.example\"]}}\nroutes:", 1))
		if d.RouteCORS(0) == nil || c.RouteCORS(0) != nil {
			return "no CORS"
		}
		return "defaults.cors"
	},
	"routes[].cors.headers": func(_ *testing.T, _ *config.Config) any {
		var hs []any
		for _, h := range middleware.DefaultCORSHeaders {
			hs = append(hs, h)
		}
		return hs
	},
	"routes[].cors.credentials": func(t *testing.T, _ *config.Config) any { return corsBlock(t).Credentials },
	"routes[].cors.max_age":     func(t *testing.T, _ *config.Config) any { return corsBlock(t).MaxAge },
	"routes[].cors.disabled":    func(t *testing.T, _ *config.Config) any { return corsBlock(t).Disabled },

	"routes[].compress": func(t *testing.T, c *config.Config) any {
		d := load(t, strings.Replace(minimalConfig(keyFile(t)), "routes:", "defaults: {compress: {}}\nroutes:", 1))
		if d.RouteCompress(0) == nil || c.RouteCompress(0) != nil {
			return "no compression"
		}
		return "defaults.compress"
	},
	"routes[].compress.algorithms": func(_ *testing.T, _ *config.Config) any {
		var as []any
		for _, a := range middleware.DefaultCompressAlgorithms {
			as = append(as, a)
		}
		return as
	},
	"routes[].compress.min_size": func(t *testing.T, _ *config.Config) any {
		return []any{middleware.DefaultCompressMinSize, compressBlock(t).MinSize}
	},
	"routes[].compress.level": func(t *testing.T, _ *config.Config) any {
		return or(compressBlock(t).Level, middleware.DefaultCompressLevel)
	},
	"routes[].compress.max_encoders": func(t *testing.T, _ *config.Config) any {
		return []any{middleware.DefaultCompressMaxEncoders, compressBlock(t).MaxEncoders}
	},
	"routes[].compress.disabled": func(t *testing.T, _ *config.Config) any { return compressBlock(t).Disabled },
	"watch.disabled":             func(_ *testing.T, c *config.Config) any { return c.Watch.Disabled },
	"watch.debounce": func(_ *testing.T, c *config.Config) any {
		return or(c.Watch.Debounce, source.DefaultDebounce)
	},
	"tracing.enabled":  func(_ *testing.T, c *config.Config) any { return c.Tracing.Enabled },
	"tracing.exporter": func(_ *testing.T, c *config.Config) any { return c.Tracing.Exporter },
	"tracing.protocol": func(_ *testing.T, c *config.Config) any { return c.Tracing.Protocol },
	"tracing.endpoint": func(t *testing.T, c *config.Config) any {
		g := load(t, minimalConfig(keyFile(t))+"tracing: {protocol: grpc}\n")
		return []any{c.Tracing.Endpoint, g.Tracing.Endpoint}
	},
	"tracing.sample_ratio":   func(_ *testing.T, c *config.Config) any { return *c.Tracing.SampleRatio },
	"tracing.service_name":   func(_ *testing.T, c *config.Config) any { return c.Tracing.ServiceName },
	"tracing.client_context": func(_ *testing.T, c *config.Config) any { return c.Tracing.ClientContext },

	"auth.jwt.*.leeway":        func(_ *testing.T, c *config.Config) any { return c.Auth.JWT["p"].Leeway },
	"auth.jwt.*.forward_token": func(_ *testing.T, c *config.Config) any { return c.Auth.JWT["p"].ForwardToken },
	"auth.jwt.*.cache_size": func(_ *testing.T, c *config.Config) any {
		return or(c.Auth.JWT["p"].CacheSize, middleware.DefaultTokenCacheSize)
	},
	// The provider of minimalConfig has no jwks block: its fields stay zero
	// in any block that leaves them out, and middleware.NewJWKS applies these.
	"auth.jwt.*.jwks.refresh_interval":     func(_ *testing.T, _ *config.Config) any { return middleware.DefaultJWKSRefreshInterval },
	"auth.jwt.*.jwks.min_refresh_interval": func(_ *testing.T, _ *config.Config) any { return middleware.DefaultJWKSMinRefreshInterval },
	"auth.jwt.*.jwks.timeout":              func(_ *testing.T, _ *config.Config) any { return middleware.DefaultJWKSTimeout },
}

// corsBlock returns the cors block of a route that writes only its origins.
func corsBlock(t *testing.T) config.CORS {
	d := load(t, strings.Replace(minimalConfig(keyFile(t)), "rate_limit: {rps: 2.5}", `cors: {origins: ["https://a.example"]}`, 1))
	if d.RouteCORS(0) == nil {
		t.Fatal("the route's cors block was not built")
	}
	return *d.Routes[0].CORS
}

// compressBlock returns the compress block of a route that writes it empty.
// healthCheck returns the check the gateway runs for a health_check that
// gives its path only.
func healthCheck(t *testing.T) registry.HealthCheck {
	d := load(t, strings.Replace(minimalConfig(keyFile(t)), "s: {}", "s: {health_check: {path: /healthz}}", 1))
	return d.HealthChecks()["s"]
}

func compressBlock(t *testing.T) config.Compress {
	d := load(t, strings.Replace(minimalConfig(keyFile(t)), "rate_limit: {rps: 2.5}", `compress: {}`, 1))
	if d.RouteCompress(0) == nil {
		t.Fatal("the route's compress block was not built")
	}
	return *d.Routes[0].Compress
}

func TestConfigurationDocDefaults(t *testing.T) {
	const doc = "../../docs/configuration.md"
	rows, err := referenceRows(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, minimalConfig(keyFile(t)))
	stated := make(map[string]bool)
	checkedRows, checked := 0, 0
	for _, row := range rows {
		lits := row.literals()
		if lits == nil {
			continue // prose, or no default
		}
		var want []any
		ok := true
		for _, f := range row.fields {
			stated[f] = true
			get := codeDefaults[f]
			if get == nil {
				t.Errorf("docs/configuration.md:%d: %s states the default `%s`, but the test does not know where the code's is: add it to codeDefaults", row.line, f, lits[0])
				ok = false
				continue
			}
			v := get(t, c)
			if vs, many := v.([]any); many {
				want = append(want, vs...)
			} else {
				want = append(want, v)
			}
		}
		if !ok {
			continue
		}
		if len(lits) < len(want) {
			t.Errorf("docs/configuration.md:%d: %s: the default %q states %d literals, the code has %d values", row.line, strings.Join(row.fields, ", "), row.def, len(lits), len(want))
			continue
		}
		checkedRows++
		for i, w := range want {
			checked++
			if same, code := sameDefault(lits[i], w); !same {
				t.Errorf("docs/configuration.md:%d: %s: the docs say `%s`, the code uses `%s`", row.line, strings.Join(row.fields, ", "), lits[i], code)
			}
		}
	}
	for _, f := range slices.Sorted(maps.Keys(codeDefaults)) {
		if !stated[f] {
			t.Errorf("codeDefaults has %s, which docs/configuration.md's reference no longer gives a literal default: remove the entry, or restore the row", f)
		}
	}
	t.Logf("%d reference rows, %d with a literal default: %d values checked", len(rows), checkedRows, checked)
}

// sameDefault says whether the doc's literal states the code's value, and
// returns the value as the docs would write it.
func sameDefault(doc string, code any) (bool, string) {
	switch v := code.(type) {
	case time.Duration:
		d, err := time.ParseDuration(doc) // the docs may write 0s, 1m30s, 10s
		return err == nil && d == v, v.String()
	case int:
		n, err := strconv.Atoi(doc)
		return err == nil && n == v, strconv.Itoa(v)
	case float64:
		f, err := strconv.ParseFloat(doc, 64)
		return err == nil && f == v, strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return doc == strconv.FormatBool(v), strconv.FormatBool(v)
	case string:
		return doc == v, v
	}
	return false, fmt.Sprintf("%v (a %T, which the test cannot compare)", code, code)
}

// or returns v, or def when v is zero: a field the config leaves zero is
// given its default by the package it is handed to.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// strategyName names the strategy s builds, by building each named one and
// comparing their code: a strategy is a func, whose closures share their
// code when built by the same branch.
func strategyName(t *testing.T, s config.Service) string {
	loads := selector.NewLoads()
	got := reflect.ValueOf(s.Build(loads)).Pointer()
	var names []string
	for _, n := range []string{"least_loaded", "round_robin", "random", "weighted"} {
		if reflect.ValueOf(config.Service{Strategy: n}.Build(loads)).Pointer() == got {
			names = append(names, n)
		}
	}
	if len(names) != 1 {
		t.Logf("the default strategy is like %d named ones: %v", len(names), names)
		return "unknown"
	}
	return names[0]
}

func keyFile(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(name, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func load(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse("minimal.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
