package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/upstream"
)

// proseDefault is a sentence of the docs, outside the reference tables, that
// states a default in passing; text is built from the code's value, written
// as the sentence writes it.
type proseDefault struct{ file, text string }

// proseDefaults lists the sentences of README.md and docs/*.md that restate
// a default, with c loaded from minimalConfig. A sentence reworded must be
// reworded here too; a new one that states a default belongs here, or
// should link to docs/configuration.md's reference instead.
func proseDefaults(c *config.Config, strategy string) []proseDefault {
	p := retryPolicy(c.Upstream)
	_, rl, _ := c.RouteRateLimit(0)
	rs, _, _ := c.RouteRateLimit(0)
	b := c.RouterRoutes()[0].Budget
	return []proseDefault{
		{"README.md", fmt.Sprintf("less the time it spent and a %s margin", prose(c.Upstream.Margin))},

		{"docs/configuration.md", fmt.Sprintf("for at most `shutdown_grace` (default %s)", prose(c.ShutdownGrace))},
		{"docs/configuration.md", fmt.Sprintf("With the default `drain_delay: %s`", c.DrainDelay)},
		{"docs/configuration.md", fmt.Sprintf("the gateway reads the files every %s", prose(certPollInterval))},
		{"docs/configuration.md", fmt.Sprintf("An HTTP/2 connection may have at most %d requests in flight", h2MaxStreams)},
		{"docs/configuration.md", fmt.Sprintf("Certificates are checked every %s", prose(certmagic.DefaultRenewCheckInterval))},
		{"docs/configuration.md", fmt.Sprintf("A lookup waits at most %s (`registry.DefaultLookupTimeout`)", prose(registry.DefaultLookupTimeout))},
		{"docs/configuration.md", fmt.Sprintf("must come whole within **%s** of the accept", prose(server.ProxyHeaderTimeout))},
		{"docs/operations.md", fmt.Sprintf("(due within %s)", prose(server.ProxyHeaderTimeout))},

		{"docs/architecture.md", fmt.Sprintf("A request that runs longer than %s has its connection watched", prose(or(c.Listeners[0].WatchAfter, server.DefaultWatchAfter)))},
		{"docs/architecture.md", fmt.Sprintf("the body idle timeout (%s) from now", prose(or(c.Limits.BodyIdleTimeout, router.DefaultBodyIdleTimeout)))},
		{"docs/architecture.md", fmt.Sprintf("each write under the write idle timeout (%s)", prose(or(c.Limits.WriteIdleTimeout, router.DefaultWriteIdleTimeout)))},
		{"docs/architecture.md", fmt.Sprintf("less the margin (%s)", prose(c.Upstream.Margin))},
		{"docs/architecture.md", fmt.Sprintf("the service's strategy (%s by default;", strategyProse[strategy])},

		{"docs/budget.md", fmt.Sprintf("(the gateway's `margin`, default %s)", prose(c.Upstream.Margin))},
		{"docs/budget.md", fmt.Sprintf("| `timeout` | budget of a request that asks for none | %s |", prose(b.Timeout))},
		{"docs/budget.md", fmt.Sprintf("| `min` | the least worth starting | %s |", prose(b.MinOrDefault()))},
		{"docs/budget.md", fmt.Sprintf("| `allow_raise` | untrusted clients may ask for more than `timeout`, up to `max` | %t |", b.AllowRaise)},
		{"docs/budget.md", fmt.Sprintf("At most `max_retries` per call (default %d)", p.MaxRetries)},
		{"docs/budget.md", fmt.Sprintf("retries may be at most %g %% of the requests over the last %s, plus %g per second",
			p.BudgetRatio*100, prose(upstream.DefaultRetryWindow), p.BudgetFloor)},
		{"docs/budget.md", fmt.Sprintf("Back-off is full-jitter exponential (%s base, %s cap)", prose(p.BackoffBase), prose(p.BackoffCap))},

		{"docs/auth.md", fmt.Sprintf("the provider's `leeway` (default %s)", prose(c.Auth.JWT["p"].Leeway))},
		{"docs/auth.md", fmt.Sprintf("more than %d usable keys", middleware.MaxJWKSKeys)},
		{"docs/auth.md", fmt.Sprintf("`cache_size` (default %s)", grouped(or(c.Auth.JWT["p"].CacheSize, middleware.DefaultTokenCacheSize)))},
		{"docs/auth.md", fmt.Sprintf("with `max_wait: %s` (the default)", rl.MaxWait)},
		{"docs/auth.md", fmt.Sprintf("at most `max_keys` buckets (default %s)", grouped(or(rs.MaxKeys, middleware.DefaultMaxKeys)))},
		{"docs/auth.md", fmt.Sprintf("`refresh_interval` (default %s)", prose(middleware.DefaultJWKSRefreshInterval))},
		{"docs/auth.md", fmt.Sprintf("(at most `timeout`, default %s)", prose(middleware.DefaultJWKSTimeout))},
		{"docs/auth.md", fmt.Sprintf("`min_refresh_interval` (default %s)", prose(middleware.DefaultJWKSMinRefreshInterval))},
		{"docs/auth.md", fmt.Sprintf("keys (RSA of %d to %d bits, ECDSA", middleware.MinRSABits, middleware.MaxRSABits)},
		{"docs/auth.md", fmt.Sprintf("listed keys (RSA of %d to %d bits, EC", middleware.MinRSABits, middleware.MaxRSABits)},

		{"docs/consul.md", fmt.Sprintf("%d may start back to back (`consul.WatchBurst`), and beyond them one every %s (`consul.MinWatchInterval`)", consul.WatchBurst, prose(consul.MinWatchInterval))},
		{"docs/consul.md", fmt.Sprintf("returns no sooner than %s after it began", prose(consul.MinWatchInterval))},
		{"docs/consul.md", fmt.Sprintf("`WithDropGrace` (default %s, `registry.DefaultDropGrace`)", prose(registry.DefaultDropGrace))},
		{"docs/consul.md", fmt.Sprintf("at most %d blocking queries on services at once (`consul.MaxBlockingQueries`)", consul.MaxBlockingQueries)},
		{"docs/consul.md", fmt.Sprintf("at most %d at once (`consul.MaxFetches`)", consul.MaxFetches)},
		{"docs/consul.md", fmt.Sprintf("at most %d requests in flight to its agent (%d + 3 + %d)", consul.MaxBlockingQueries+3+consul.MaxFetches, consul.MaxBlockingQueries, consul.MaxFetches)},
		{"docs/consul.md", fmt.Sprintf("opens at most %d connections (`consul.MaxConns`)", consul.MaxConns)},

		{"docs/rpc.md", fmt.Sprintf("the body idle timeout (%s by default)", prose(or(c.Limits.BodyIdleTimeout, router.DefaultBodyIdleTimeout)))},
		// The companion client's own defaults (upstream.New), which the
		// gateway's configuration does not go through.
		{"docs/rpc.md", fmt.Sprintf("`WithMaxRetries` (%d retries, so at most %d attempts", upstream.DefaultMaxRetries, upstream.DefaultMaxRetries+1)},
		{"docs/rpc.md", fmt.Sprintf("`WithMargin` (%s subtracted from the budget", prose(upstream.DefaultMargin))},
		{"docs/rpc.md", fmt.Sprintf("`WithDefaultTimeout` (%s, for a context with no deadline)", prose(upstream.DefaultTimeout))},
	}
}

// strategyProse names the strategies as the docs' sentences do.
var strategyProse = map[string]string{
	"least_loaded": "least-loaded P2C", "round_robin": "round robin", "random": "random", "weighted": "weighted",
}

func TestDocsRestateDefaultsAsTheCodeHasThem(t *testing.T) {
	c := load(t, minimalConfig(keyFile(t)))
	texts := make(map[string]string)
	for _, d := range proseDefaults(c, strategyName(t, c.Services["s"])) {
		text, ok := texts[d.file]
		if !ok {
			data, err := os.ReadFile("../../" + d.file)
			if err != nil {
				t.Fatal(err)
			}
			text = oneSpace(string(data))
			texts[d.file] = text
		}
		if !strings.Contains(text, oneSpace(d.text)) {
			t.Errorf("%s does not say %q, which is what the code does: fix the sentence, or, if it was reworded, its entry in proseDefaults", d.file, d.text)
		}
	}
}

// oneSpace turns every run of white space, line breaks included, into one
// space, so that a sentence matches however it is wrapped or aligned.
func oneSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// prose writes d as the docs' sentences do: 10 s, 250 ms, 2 min.
func prose(d time.Duration) string {
	switch {
	case d != 0 && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%d ms", d/time.Millisecond)
	}
	return d.String()
}

// grouped writes n with its thousands set apart by spaces: 100 000.
func grouped(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}
