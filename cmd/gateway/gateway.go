package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/tracing"
	"github.com/sluicehq/sluice/upstream"
)

// gateway holds what lives for the whole process: listeners, the registry,
// the client and its pools. Only the router is swapped on reload.
type gateway struct {
	cfg      *config.Config
	logger   *slog.Logger
	client   *upstream.Client
	registry registry.Registry
	router   atomic.Pointer[router.Router]
	// tunnels are the connections switched to another protocol
	// (WebSockets), across reloads: shutdown ends them after the drain.
	tunnels *router.Tunnels
	// heldBodies bounds the request bodies held for a retry, across
	// reloads (limits.max_held_body_bytes; heldbodies.go).
	heldBodies *router.BodyBudget
	draining   atomic.Bool
	promReg    *prometheus.Registry
	// serverLog is the listeners' servers' error log (serverlog.go).
	serverLog *log.Logger
	metrics   *middleware.Metrics
	// proxies are the trusted proxies of the configuration serving, whose
	// X-Request-Id the gateway keeps.
	proxies atomic.Pointer[middleware.TrustedProxies]

	resilience *resilience
	edge       *edge
	keys       *keySources

	// tracer makes the spans of requests; nil when tracing is off.
	// stopTracing flushes the last spans at shutdown.
	tracer      *tracing.Tracer
	stopTracing func(context.Context) error

	// accessLogger receives the access log; nil turns it off.
	accessLogger *slog.Logger
	// pprof serves the profiler on the admin listener.
	pprof bool
	// certPoll is how often TLS listeners' certificate files are checked
	// for changes; zero means certPollInterval.
	certPoll time.Duration
	// acme obtains and renews the certificates of acme listeners, from
	// the start of serve; acmeRenewCheck is how often it checks them,
	// zero meaning certmagic's default (10 minutes).
	acme           *acmeManager
	acmeRenewCheck time.Duration

	// staticServices lists the services a static registry was last given;
	// only the serve goroutine, which reloads, touches it.
	staticServices map[string]bool
	// names gives a static registry its nodes, one an address of each
	// host name (names.go); nil with Consul.
	names *registry.Names
	// health leaves the static nodes that fail their service's
	// health_check out (nodehealth.go); nil when no service has one.
	health *registry.Health
	// backendTLS holds the handshakes of the services reached over TLS
	// (backendtls.go).
	backendTLS *backendTLS
	// apiKeys follows the keys files of the API key providers serving
	// (apikeys.go).
	apiKeys *apiKeyFiles
	// certExpiry exports when the certificates held from files expire
	// (certexpiry.go).
	certExpiry *certExpiry

	// src is where the configuration comes from and how its changes are
	// watched (configsource.go); nil reloads only on SIGHUP with the load
	// function serve is given.
	src *configSource
	// status records the version that serves (configstatus.go).
	status *configStatus
}

func newGateway(cfg *config.Config, logger *slog.Logger) (*gateway, error) {
	g := &gateway{cfg: cfg, logger: logger, accessLogger: logger, promReg: prometheus.NewRegistry(),
		tunnels: router.NewTunnels(), heldBodies: router.NewBodyBudget(cfg.Limits.MaxHeldBodyBytes)}
	g.promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g.metrics = middleware.NewMetrics(g.promReg)
	registerHeldBodies(g.promReg, g.heldBodies)
	registerSwitched(g.promReg, g.tunnels)
	g.status = newConfigStatus(g.promReg, sourceKind(cfg.File()), cfg.File())
	reg, err := newRegistry(cfg)
	if err != nil {
		return nil, err
	}
	g.registry = reg
	if g.backendTLS, err = newBackendTLS(cfg); err != nil {
		return nil, err
	}
	g.certExpiry = newCertExpiry(g.promReg)
	for _, bc := range g.backendTLS.certs {
		g.certExpiry.add("backend_client", bc.store)
	}
	if st, ok := reg.(*registry.Static); ok {
		g.names = newNames(st, cfg, logger)
		if g.health = newNodeHealth(st, cfg, logger, g.promReg, g.backendTLS.configs); g.health != nil {
			reg, g.registry = g.health, g.health // the client picks among the healthy
		}
	}
	if c, ok := reg.(*registry.Cache); ok {
		g.promReg.MustRegister(newDiscoveryMetrics(c))
	}
	g.staticServices = make(map[string]bool)
	for _, n := range cfg.StaticNodes() {
		g.staticServices[n.Service] = true
	}
	g.resilience = newResilience(cfg, g.promReg, logger)
	g.edge = newEdge(g.promReg, logger)
	g.keys = newKeySources(g.promReg, logger)
	if g.tracer, g.stopTracing, err = newTracing(cfg, logger, g.promReg); err != nil {
		return nil, err
	}
	g.edge.traceFilter = clientTraceFilter(cfg)
	g.apiKeys = newAPIKeyFiles(logger)
	g.client = g.resilience.client(cfg, reg, g.backendTLS.options(upstream.WithTracer(g.tracer))...)
	if err := g.install(cfg); err != nil {
		return nil, err
	}
	g.status.start(cfg.Hash(), 0)
	return g, nil
}

func newRegistry(cfg *config.Config) (registry.Registry, error) {
	switch cfg.Registry.Kind {
	case "static":
		return registry.NewStatic() // install gives it its nodes, through names
	case "consul":
		c := cfg.Registry.Consul
		client, err := consul.NewClient(&api.Config{Address: c.Address, Datacenter: c.Datacenter})
		if err != nil {
			return nil, fmt.Errorf("registry.consul: %w", err)
		}
		var opts []registry.CacheOption
		if c.MaxStale > 0 {
			opts = append(opts, registry.WithMaxStale(c.MaxStale))
		}
		if c.DropGrace > 0 {
			opts = append(opts, registry.WithDropGrace(c.DropGrace))
		}
		return registry.NewCache(consul.New(client, consul.WithDatacenter(c.Datacenter)), opts...), nil
	}
	return nil, fmt.Errorf("unknown registry kind %q", cfg.Registry.Kind)
}

// install builds the router of cfg, with each route's edge policies, and
// makes it the one serving.
func (g *gateway) install(cfg *config.Config) error {
	routes, limiters, err := g.edge.routes(cfg)
	if err != nil {
		return err
	}
	keys := g.keys.prepare(cfg)
	rt, err := router.New(routes, g.client, router.Options{Logger: g.logger, MarkIdempotent: upstream.WithIdempotent,
		MarkStream: upstream.WithStream, Reserved: reservedPaths, BodyIdleTimeout: cfg.Limits.BodyIdleTimeout, WriteIdleTimeout: cfg.Limits.WriteIdleTimeout,
		UpgradeIdleTimeout: cfg.Limits.TunnelIdleTimeout, UpgradeMaxLifetime: cfg.Limits.TunnelMaxLifetime,
		Tunnels: g.tunnels, Tracer: g.tracer, OnBudgetSpent: g.budgetSpent, HeldBodies: g.heldBodies, Caller: g.caller})
	if err != nil {
		return err
	}
	g.heldBodies.SetMax(cfg.Limits.MaxHeldBodyBytes)
	g.setStatic(cfg) // before the routes that need the nodes serve
	g.router.Store(rt)
	g.proxies.Store(cfg.Proxies())
	g.edge.limiters = limiters
	g.keys.commit(keys)
	g.edge.global.commit()
	g.apiKeys.use(cfg)
	return nil
}

// reservedPaths are the paths handler answers itself, before any route.
var reservedPaths = []string{"/healthz", "/readyz"}

// handler is the gateway's outermost handler on every listener that
// serves routes.
func (g *gateway) handler() http.Handler {
	return g.chain(g.reserved(nil))
}

// reserved answers ACME http-01 challenges and the reserved paths, and
// passes every other request to next, or, when next is nil, to the router
// serving: one layer, which checks the challenges' prefix itself.
func (g *gateway) reserved(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.acmeChallenge(w, r) {
			return
		}
		switch r.URL.Path {
		case "/healthz":
			writeText(w, http.StatusOK, "ok\n")
		case "/readyz":
			g.readyz(w)
		default:
			if next != nil {
				next.ServeHTTP(w, r)
			} else {
				g.router.Load().ServeHTTP(w, r)
			}
		}
	})
}

// chain wraps h in the middleware of every listener: access log, request
// id, metrics, recovery.
func (g *gateway) chain(h http.Handler) http.Handler {
	return middleware.Chain(
		middleware.AccessLog(g.accessLogger, nil),
		middleware.RequestID(g.proxies.Load),
		g.metrics.Handler,
		middleware.Recover(g.logger),
	)(h)
}

func (g *gateway) readyz(w http.ResponseWriter) {
	if g.draining.Load() {
		problem.Write(w, http.StatusServiceUnavailable, problem.TypeDraining, "Draining", "the gateway is shutting down")
		return
	}
	if names := g.keys.notReady(); len(names) > 0 {
		writeKeysNotReady(w, names)
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s))
}

func (g *gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g.promReg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { g.readyz(w) })
	if g.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /admin/config", g.status)
	mux.HandleFunc("GET /admin/upstream", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		out := map[string]any{"breakers": []upstream.BreakerState{}, "ejections": []selector.Ejection{},
			"limits": []upstream.NodeLimit{}}
		if b := g.resilience.breakers; b != nil {
			if st := b.States(); st != nil {
				out["breakers"] = st
			}
		}
		if e := g.resilience.ejector; e != nil {
			if ej := e.Ejections(); ej != nil {
				out["ejections"] = ej
			}
		}
		if l := g.resilience.limits; l != nil {
			if st := l.States(); st != nil {
				out["limits"] = st
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /admin/registry", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		type service struct {
			Service     string    `json:"service"`
			Nodes       int       `json:"nodes"`
			Index       uint64    `json:"index"`
			LastSuccess time.Time `json:"last_success"`
			StaleFor    string    `json:"stale_for,omitempty"`
			LastError   string    `json:"last_error,omitempty"`
			HoldingDrop bool      `json:"holding_drop,omitempty"`
		}
		out := []service{}
		if c, ok := g.registry.(*registry.Cache); ok {
			for _, st := range c.Status() {
				s := service{Service: st.Service, Nodes: st.Nodes, Index: st.Index,
					LastSuccess: st.LastSuccess, HoldingDrop: st.HoldingDrop}
				if st.LastError != nil {
					s.LastError = st.LastError.Error()
					s.StaleFor = time.Since(st.FailingSince).Round(time.Millisecond).String()
				}
				out = append(out, s)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": g.cfg.Registry.Kind, "services": out})
	})
	return mux
}

// The server a listener runs when its configuration names none: the lean
// one on route listeners, net/http's on the admin listener.
const (
	defaultRouteServer = config.ServerSluice
	defaultAdminServer = config.ServerNetHTTP
)

// serve listens on every configured address until ctx ends, reloading routes
// on each signal from reload, then drains.
func (g *gateway) serve(ctx context.Context, reload <-chan os.Signal, load func() (*config.Config, error)) error {
	var ls []*listening
	h := g.handler()
	g.serverLog = serverLog(g.logger)
	routeConns, adminConns := g.connLimits(g.cfg.Limits.MaxClientConnections, g.cfg.Limits.MaxClientConnectionsPerAddress)
	for _, l := range g.cfg.Listeners {
		bound, err := g.listen(l, h, defaultRouteServer, routeConns)
		if err != nil {
			closeAll(ls)
			return err
		}
		ls = append(ls, bound)
	}
	if g.cfg.Admin != nil {
		admin := g.adminHandler()
		if g.cfg.Admin.TLS == nil {
			admin = guardAdminHosts(admin, g.cfg.Admin.Hosts)
		}
		bound, err := g.listen(*g.cfg.Admin, admin, defaultAdminServer, adminConns)
		if err != nil {
			closeAll(ls)
			return err
		}
		ls = append(ls, bound)
	}
	if err := g.startACME(ls[:len(g.cfg.Listeners)]); err != nil {
		closeAll(ls)
		return err
	}
	defer g.stopACME()
	servers := make([]httpServer, len(ls))
	errs := make(chan error, len(ls))
	for i, l := range ls {
		servers[i] = l.srv
		g.logger.Info("listening", slog.String("address", l.ln.Addr().String()), slog.Bool("tls", l.tls))
		go func() { errs <- l.srv.Serve(l.ln) }()
	}
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	poll := g.certPoll
	if poll <= 0 {
		poll = certPollInterval
	}
	g.watchCertificates(ls, poll, stopWatch)
	g.backendTLS.watch(g.logger, poll, stopWatch)
	go g.apiKeys.watch(poll, stopWatch)
	if g.names != nil {
		nctx, stopNames := context.WithCancel(ctx)
		defer stopNames()
		go g.names.Run(nctx, g.cfg.Registry.DNSRefresh)
	}
	if g.health != nil {
		hctx, stopHealth := context.WithCancel(ctx)
		healthDone := make(chan struct{})
		defer func() { stopHealth(); <-healthDone }()
		go func() {
			defer close(healthDone)
			g.health.Run(hctx)
		}()
	}
	updates := g.watchConfig(ctx)
	g.logger.Info("gateway ready", slog.Int("routes", len(g.router.Load().Routes())),
		slog.String("config", g.cfg.File()))

	for {
		select {
		case <-reload:
			if g.src != nil {
				g.applyLoaded(g.src.load(ctx), true)
			} else {
				g.reload(load)
			}
			g.reloadCertificates(ls)
			g.backendTLS.reload(g.logger)
			continue
		case l := <-updates:
			g.applyLoaded(l, false)
			continue
		case err := <-errs:
			if !errors.Is(err, http.ErrServerClosed) {
				g.shutdown(servers)
				return err
			}
		case <-ctx.Done():
		}
		break
	}
	return g.shutdown(servers)
}

// reload reads the configuration with load and applies it, as SIGHUP does.
func (g *gateway) reload(load func() (*config.Config, error)) {
	cfg, err := load()
	l := loaded{cfg: cfg, err: err}
	if cfg != nil {
		l.hash = cfg.Hash()
	}
	g.applyLoaded(l, true)
}

// A static registry follows a reloaded configuration in two steps around
// the swap of routes (install): the nodes of every service the new file
// lists are set before its routes serve, so that a route to a service only
// the new file lists has its nodes from its first request (set after, its
// first requests got 503 no-nodes); the services it no longer lists are
// left with none after, when no new route leads to them.

// setStatic gives a static registry the nodes of every service cfg lists.
func (g *gateway) setStatic(cfg *config.Config) {
	if !g.isStatic(cfg) {
		return
	}
	groups := staticGroups(cfg)
	g.names.SetAll(context.Background(), groups)
	for service := range groups {
		g.staticServices[service] = true
	}
}

// dropStatic leaves the services that cfg no longer lists with no nodes.
func (g *gateway) dropStatic(cfg *config.Config) {
	if !g.isStatic(cfg) {
		return
	}
	listed := staticGroups(cfg)
	dropped := make(map[string][]*registry.Node)
	for service := range g.staticServices {
		if _, ok := listed[service]; !ok {
			dropped[service] = nil
		}
	}
	g.names.SetAll(context.Background(), dropped)
}

// unwatchUnrouted stops the discovery watches (with Consul) of the services
// that no route of cfg leads to, once its routes serve: each would
// otherwise go on querying Consul, and be reported by /admin/registry and
// the sluice_discovery_* metrics, for as long as the process runs.
func (g *gateway) unwatchUnrouted(cfg *config.Config) {
	c, ok := g.registry.(*registry.Cache)
	if !ok {
		return
	}
	routed := make(map[string]bool, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routed[r.Service] = true
	}
	c.Retain(func(service string) bool { return routed[service] })
}

// isStatic reports whether cfg is served by the gateway's static registry.
func (g *gateway) isStatic(cfg *config.Config) bool {
	return g.names != nil && cfg.Registry.Kind == "static"
}

// staticGroups returns cfg's static nodes by service.
func staticGroups(cfg *config.Config) map[string][]*registry.Node {
	groups := make(map[string][]*registry.Node)
	for _, n := range cfg.StaticNodes() {
		groups[n.Service] = append(groups[n.Service], n)
	}
	return groups
}

// shutdown marks the gateway draining, stops accepting, and waits for
// in-flight requests up to the shutdown grace. Then it ends the proxied
// WebSockets, which neither server's Shutdown waits for, with a close frame
// of code 1001 (going away), waiting for them up to the grace again.
func (g *gateway) shutdown(servers []httpServer) error {
	g.draining.Store(true)
	if d := g.cfg.DrainDelay; d > 0 {
		g.logger.Info("not ready; still accepting while load balancers notice", slog.Duration("drain_delay", d))
		time.Sleep(d) // deliberate: a fixed notice period, as configured
	}
	g.logger.Info("draining", slog.Duration("grace", g.cfg.ShutdownGrace))
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, srv := range servers {
		wg.Go(func() { errs[i] = srv.Shutdown(ctx) })
	}
	wg.Wait()
	tctx, tcancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
	defer tcancel()
	if n := g.tunnels.Len(); n > 0 {
		g.logger.Info("closing proxied connections", slog.Int("tunnels", n))
	}
	errs = append(errs, g.tunnels.CloseAll(tctx))
	errs = append(errs, g.stopTracing(tctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	g.logger.Info("stopped")
	return nil
}

func closeAll(ls []*listening) {
	for _, l := range ls {
		l.ln.Close()
	}
}
