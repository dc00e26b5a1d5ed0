package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
)

// keySources keeps the JWKS key sources of the auth providers that fetch
// their keys from a URL, across reloads: a reloaded provider with the same
// URL adopts the keys already fetched (no fetch, no gap), those that fit
// its algorithms, and every fetch is logged and counted in
// sluice_jwks_refresh_total. The
// gateway is not ready until each source has loaded a key set once; after
// that, a failing endpoint leaves the keys held serving and never makes
// the gateway unready, nor does a source a reload adds or changes: its
// provider's routes answer 503 until it loads, and every other route
// serves. Readiness says whether the process can serve; a reload pushed to
// every replica (a JWKS url with a typo, its issuer down at that moment)
// made each of them unready at once, every route of the fleet out of its
// load balancers.
type keySources struct {
	logger  *slog.Logger
	refresh *prometheus.CounterVec
	// serving are the sources of the configuration serving, by provider.
	serving atomic.Pointer[map[string]*middleware.JWKS]
	// committed is set by the first commit, of the start's sources.
	committed bool
	// started is set once every source serving has held keys: from then
	// on readiness no longer depends on them.
	started atomic.Bool
}

func newKeySources(reg prometheus.Registerer, logger *slog.Logger) *keySources {
	k := &keySources{logger: logger, refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_jwks_refresh_total",
		Help: "Fetches of auth providers' JWK Sets, by provider and result (loaded, unchanged, failed, refused).",
	}, []string{"provider", "result"})}
	reg.MustRegister(k.refresh)
	empty := map[string]*middleware.JWKS{}
	k.serving.Store(&empty)
	return k
}

// prepare readies cfg's sources before its routes serve: each adopts the
// keys of the serving source of the same provider when it can, reports its
// fetches, and starts fetching when it holds no keys.
func (k *keySources) prepare(cfg *config.Config) map[string]*middleware.JWKS {
	prev := *k.serving.Load()
	next := cfg.JWKS()
	for name, src := range next {
		src.Adopt(prev[name])
		src.Observe(k.observer(name, src))
		if !src.Ready() {
			src.Prefetch()
		}
	}
	return next
}

// commit makes sources those of the configuration serving. Replacing
// sources that all held keys (a reload after the start's keys loaded)
// ends the start.
func (k *keySources) commit(sources map[string]*middleware.JWKS) {
	if k.committed && allReady(*k.serving.Load()) {
		k.started.Store(true)
	}
	k.committed = true
	k.serving.Store(&sources)
}

// allReady reports whether every source holds keys.
func allReady(sources map[string]*middleware.JWKS) bool {
	for _, src := range sources {
		if !src.Ready() {
			return false
		}
	}
	return true
}

// observer logs and counts the fetches of provider name's source.
func (k *keySources) observer(name string, src *middleware.JWKS) func(string, error) {
	return func(result string, err error) {
		k.refresh.WithLabelValues(name, result).Inc()
		attrs := []slog.Attr{slog.String("provider", name), slog.String("url", redactURL(src.URL())), slog.String("result", result)}
		switch {
		case result == middleware.JWKSLoaded:
			k.logger.LogAttrs(context.Background(), slog.LevelInfo, "JWKS keys loaded", attrs...)
		case err != nil && src.Ready():
			k.logger.LogAttrs(context.Background(), slog.LevelWarn, "JWKS refresh failed; the keys already loaded keep serving",
				append(attrs, slog.String("error", err.Error()))...)
		case err != nil:
			k.logger.LogAttrs(context.Background(), slog.LevelError, "JWKS fetch failed; the provider's routes answer 503 until its keys load",
				append(attrs, slog.String("error", err.Error()))...)
		}
	}
}

// redactURL returns u with the password of its user information replaced
// by xxxxx, as net/http's own errors show it: a JWKS URL may carry the
// credentials its server asks for (https://reader:secret@id.example/...),
// and the log is no place for them.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u // the configuration checked it: unreachable
	}
	return parsed.Redacted()
}

// notReady returns, until every provider has held keys once, the
// providers whose sources have never loaded keys, sorted; after that,
// none. Either way it asks each source without keys for a fetch (within
// its rate limit): readiness probes keep retrying a failed first fetch.
func (k *keySources) notReady() []string {
	var names []string
	for name, src := range *k.serving.Load() {
		if !src.Ready() {
			names = append(names, name)
			src.Prefetch()
		}
	}
	if k.started.Load() {
		return nil
	}
	sort.Strings(names)
	return names
}

// writeKeysNotReady answers a readiness probe while providers lack their keys.
func writeKeysNotReady(w http.ResponseWriter, names []string) {
	problem.Write(w, http.StatusServiceUnavailable, problem.TypeKeysUnavailable, "Not ready",
		"the keys of auth "+strings.Join(names, ", ")+" have not been loaded from the JWKS yet")
}
