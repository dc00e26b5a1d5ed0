package main

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/server"
)

// edge builds each route's edge policies (CORS, JWT authentication,
// per-client rate limits) from the configuration, and keeps what must outlive a
// reload: the metrics, and the rate limiters by route and settings, so that
// a reload that leaves a route's limit alone leaves its clients' buckets
// alone too.
type edge struct {
	authFailures *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	// forbidden counts the requests a route's allow_from refused.
	forbidden *prometheus.CounterVec
	// refused counts the requests the listeners' servers refuse before
	// any handler (listenerRefused).
	refused *prometheus.CounterVec
	// proxyRefusals counts the connections closed for their PROXY header
	// (proxyRefused).
	proxyRefusals *prometheus.CounterVec
	// limiters are those of the routes serving; only the goroutine that
	// installs routers touches it.
	limiters map[limiterID]*middleware.RateLimiter
	// global keeps the Redis store of global rate limits.
	global *globalLimits
	// traceFilter, when not nil, removes the client's trace context from
	// every route's requests (clientTraceFilter): set at start, as the
	// tracing section is read then.
	traceFilter func(http.Handler) http.Handler
}

// limiterID is what a rate limiter's buckets depend on: the route (its
// name, method and path) and its limit; a change in any of these starts
// afresh.
type limiterID struct {
	route        string
	rps          float64
	burst, keys  int
	key          string
	trustProxies string
	// share marks the local share of a global limit (rps and burst are
	// the global limit's; globallimit.go keeps shares apart).
	share bool
}

func newEdge(reg prometheus.Registerer, logger *slog.Logger) *edge {
	e := &edge{
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_auth_failures_total", Help: "Requests refused by a route's JWT authentication (401; 503 for keys_unavailable), by route and reason.",
		}, []string{"route", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rate_limited_total", Help: "Requests refused with 429 by a route's rate limit, by route.",
		}, []string{"route"}),
		forbidden: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_forbidden_total", Help: "Requests refused with 403 by a route's allow_from (the client's address in none of its networks), by route.",
		}, []string{"route"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_listener_refusals_total",
			Help: "Requests a listener's server refused itself, before any route or middleware (a malformed or oversized head), by status code.",
		}, []string{"code"}),
		proxyRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_proxy_protocol_refusals_total",
			Help: "Connections from a listener's proxy_protocol sources closed for their PROXY header (timeout: a header begun and not whole within " + server.ProxyHeaderTimeout.String() + "; malformed), by reason.",
		}, []string{"reason"}),
		limiters: map[limiterID]*middleware.RateLimiter{},
		global:   newGlobalLimits(reg, logger),
	}
	reg.MustRegister(e.authFailures, e.rateLimited, e.forbidden, e.refused, e.proxyRefusals)
	return e
}

// listenerRefused counts a request a listener's server refused with
// status before any handler saw it (server.Server.OnRefuse,
// server.NetHTTPOptions): no middleware counts or logs it, so without
// this a scan of malformed heads (smuggling probes, say) was seen
// nowhere. The statuses are the servers' own few (400, 417, 431, 501,
// 505).
func (e *edge) listenerRefused(status int) {
	e.refused.WithLabelValues(strconv.Itoa(status)).Inc()
}

// proxyRefused counts a connection from a listener's proxy_protocol
// sources closed for its PROXY header (server.ProxyOptions.OnRefuse): it
// reached no server, so no other count sees it.
func (e *edge) proxyRefused(reason string) {
	e.proxyRefusals.WithLabelValues(reason).Inc()
}

// routes returns cfg's routes with their edge middleware, and the rate
// limiters they use, to keep (commit) once the router they go into is
// installed.
func (e *edge) routes(cfg *config.Config) ([]router.Route, map[limiterID]*middleware.RateLimiter, error) {
	routes := cfg.RouterRoutes()
	limiters := make(map[limiterID]*middleware.RateLimiter)
	e.global.next, e.global.nextShares = nil, nil // set again by cfg's global limits
	// Every header a backend could take for the gateway's word is removed
	// from every client request, first, on every route (docs/auth.md,
	// "Headers a backend may trust"): the claim headers of every provider,
	// with or without auth and whatever the provider, Forwarded and
	// X-Forwarded-* (X-Forwarded-For kept from trusted proxies), the
	// client-address fields. The router then sets X-Forwarded-*. So are
	// the client's trace context fields, with tracing off, unless
	// tracing.client_context trusts them (clientTraceFilter).
	strip := middleware.IdentityHeaders(cfg.ClaimHeaders(), cfg.Proxies())
	for i := range routes {
		r := &routes[i]
		name := r.DisplayName()
		rules := cfg.RouteHeaders(i)
		// The answers' header edits are outermost: they apply to every
		// answer of the route, the edge's refusals included, after every
		// layer below (compression too) wrote its fields.
		r.Middleware = appendNonNil(r.Middleware, rules.Answers())
		// Compression comes next, so that the edge's own answers are
		// compressed like the backend's (when large enough), and the
		// writer every other layer sees is the one that compresses.
		if policy := cfg.RouteCompress(i); policy != nil {
			r.Middleware = append(r.Middleware, policy.Middleware)
		}
		// CORS comes next: a preflight carries no token and is answered
		// here, before allow_from, authentication and rate limits (the router sends
		// the preflights of the route's path to Preflight, and this
		// middleware answers one that reaches the route anyway); an edge
		// refusal of an actual request (401, 403, 429) carries the CORS
		// fields too, so that the page can read it.
		if policy := cfg.RouteCORS(i); policy != nil {
			r.Preflight = policy.Preflight()
			r.Middleware = append(r.Middleware, policy.Middleware)
		}
		r.Middleware = appendNonNil(r.Middleware, strip, e.traceFilter)
		// A client the route does not take is refused before its token is
		// checked or its rate counted: it costs the least there.
		if nets := cfg.RouteAllowFrom(i); nets != nil {
			r.Middleware = append(r.Middleware, middleware.AllowFrom(nets, cfg.Proxies(), e.forbidden.WithLabelValues(name).Inc))
		}
		var auth, limit func(http.Handler) http.Handler
		failures := e.authFailures.MustCurryWith(prometheus.Labels{"route": name})
		onFailure := func(reason string) { failures.WithLabelValues(reason).Inc() }
		if v := cfg.JWTVerifier(cfg.Routes[i].Auth); v != nil {
			auth = v.Authenticate(onFailure)
		} else if keys := cfg.APIKeys(cfg.Routes[i].Auth); keys != nil {
			auth = keys.Authenticate(onFailure)
		}
		// What the route asks of the token's (or key's) claims is checked
		// right after it: one middleware, so that the limit keyed by
		// subject below still runs after both.
		if req := cfg.RouteRequireClaims(i); req != nil && auth != nil {
			authenticate, require := auth, req.Middleware(onFailure)
			auth = func(next http.Handler) http.Handler { return authenticate(require(next)) }
		}
		// A route's limit is per replica (RouteRateLimit) or global, kept
		// in Redis (RouteGlobalRateLimit; globallimit.go).
		settings, policy, ok := cfg.RouteRateLimit(i)
		if gp, full, global := cfg.RouteGlobalRateLimit(i); global {
			store, err := e.global.store(cfg)
			if err != nil {
				return nil, nil, err
			}
			id := limiterID{route: name + "\x00" + r.Method + " " + r.Path, rps: full.RPS, burst: full.Burst, keys: full.MaxKeys,
				key: cfg.Routes[i].RateLimit.Key, trustProxies: strings.Join(cfg.TrustedProxies, ","), share: true}
			share, err := e.global.share(id, full, cfg, store)
			if err != nil {
				return nil, nil, err
			}
			gp = e.global.policy(name, gp, share)
			gp.Scope = name + " " + r.Method + " " + r.Path
			gp.OnLimited = e.rateLimited.WithLabelValues(name).Inc
			limit = middleware.GlobalRateLimit(store, gp)
			policy.Key = gp.Key
		}
		if ok {
			id := limiterID{route: name + "\x00" + r.Method + " " + r.Path, rps: settings.RPS, burst: settings.Burst, keys: settings.MaxKeys,
				key: cfg.Routes[i].RateLimit.Key, trustProxies: strings.Join(cfg.TrustedProxies, ",")}
			lim := e.limiters[id]
			if lim == nil {
				var err error
				if lim, err = middleware.NewRateLimiter(settings); err != nil {
					return nil, nil, err
				}
			}
			limiters[id] = lim
			policy.OnLimited = e.rateLimited.WithLabelValues(name).Inc
			policy.Name = name
			limit = lim.Middleware(policy)
		}
		// A limit by subject needs the verified token, so it runs after
		// authentication; any other runs first, so that a flood of bad
		// tokens is limited before a signature is checked.
		if policy.Key.NeedsIdentity() {
			r.Middleware = appendNonNil(r.Middleware, auth, limit)
		} else {
			r.Middleware = appendNonNil(r.Middleware, limit, auth)
		}
		// The requests' header edits are innermost: the gateway's checks
		// of the client's own fields come first.
		r.Middleware = appendNonNil(r.Middleware, rules.Requests())
	}
	return routes, limiters, nil
}

func appendNonNil(dst []func(http.Handler) http.Handler, mws ...func(http.Handler) http.Handler) []func(http.Handler) http.Handler {
	for _, mw := range mws {
		if mw != nil {
			dst = append(dst, mw)
		}
	}
	return dst
}
