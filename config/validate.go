package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/selector"
)

// Defaults of fields left out.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultShutdownGrace = 10 * time.Second
	DefaultRouteTimeout  = 5 * time.Second
	DefaultConsulAddress = "127.0.0.1:8500"
)

// ReservedPaths are served by the gateway itself on every listener.
var ReservedPaths = []string{"/healthz", "/readyz"}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

func (c *Config) applyDefaults() {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Address: DefaultListen}}
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Registry.Kind == "" {
		c.Registry.Kind = "static"
	}
	if c.Registry.Consul.Address == "" {
		c.Registry.Consul.Address = DefaultConsulAddress
	}
	if c.Registry.DNSRefresh == 0 {
		c.Registry.DNSRefresh = registry.DefaultDNSRefresh
	}
	if c.Upstream.Margin == 0 {
		c.Upstream.Margin = time.Millisecond
	}
	if c.Upstream.MaxRetries == 0 {
		c.Upstream.MaxRetries = 2
	}
	if c.Defaults.Budget.Timeout == 0 {
		c.Defaults.Budget.Timeout = DefaultRouteTimeout
	}
	for i := range c.Routes {
		b, d := &c.Routes[i].Budget, c.Defaults.Budget
		if b.Timeout == 0 {
			b.Timeout = d.Timeout
		}
		if b.Max == 0 && d.Max >= b.Timeout {
			// A route that raises its timeout above the default max, and
			// sets no max of its own, gets max = timeout rather than an
			// error about a field it never wrote.
			b.Max = d.Max
		}
		if b.Min == 0 {
			b.Min = d.Min
		}
		if b.AllowRaise == nil {
			b.AllowRaise = d.AllowRaise
		}
		if c.Routes[i].Method == "" {
			c.Routes[i].Method = "GET"
		}
		c.Routes[i].Method = strings.ToUpper(c.Routes[i].Method)
	}
	c.applyAuthDefaults()
	c.applyRateLimitDefaults()
	c.applyTracingDefaults()
	c.applyRedisDefaults()
}

// validate checks the configuration after its defaults. Its parts are
// independent, so that a file with several mistakes hears of each part's
// first at once (gateway validate prints them all): the listeners, the
// registry, the upstream settings, the services, the default budget, the
// routes, tracing and the edge policies. The routes are checked against the
// static registry's services only when the registry itself is valid.
func (c *Config) validate() error {
	known, regErr := c.validateRegistry()
	if regErr != nil {
		known = nil
	}
	return errors.Join(
		c.validateListeners(),
		regErr,
		c.validateUpstream(),
		c.validateLimits(),
		c.validateServices(),
		c.validateDefaultBudget(),
		c.validateRoutes(known),
		c.validateTracing(),
		c.validateEdge(),
	)
}

func (c *Config) validateListeners() error {
	for i, l := range c.Listeners {
		if err := checkAddress(l.Address); err != nil {
			return c.errorAt(fmt.Sprintf("listeners[%d].address", i), "%v", err)
		}
		if err := checkServer(l.Server); err != nil {
			return c.errorAt(fmt.Sprintf("listeners[%d].server", i), "%v", err)
		}
		if l.WatchAfter != 0 && l.Server == ServerNetHTTP {
			return c.errorAt(fmt.Sprintf("listeners[%d].watch_after", i), "net/http's server watches every request: watch_after applies to server %q only", ServerSluice)
		}
		if err := c.checkListener(fmt.Sprintf("listeners[%d]", i), &c.Listeners[i]); err != nil {
			return err
		}
		if len(l.Hosts) > 0 {
			return c.errorAt(fmt.Sprintf("listeners[%d].hosts", i), "hosts applies to the admin listener only")
		}
		if err := c.checkProxyProtocol(fmt.Sprintf("listeners[%d].proxy_protocol", i), l.ProxyProtocol); err != nil {
			return err
		}
	}
	if err := c.checkACMEListeners(); err != nil {
		return err
	}
	if c.Admin != nil {
		if err := checkAddress(c.Admin.Address); err != nil {
			return c.errorAt("admin.address", "%v", err)
		}
		if err := checkServer(c.Admin.Server); err != nil {
			return c.errorAt("admin.server", "%v", err)
		}
		if c.Admin.ProxyProtocol != nil {
			return c.errorAt("admin.proxy_protocol", "proxy_protocol applies to route listeners only")
		}
		if c.Admin.WatchAfter != 0 && c.Admin.Server != ServerSluice {
			return c.errorAt("admin.watch_after", "the admin listener runs net/http's server unless server is %q: watch_after applies to that server only", ServerSluice)
		}
		if err := c.checkListener("admin", c.Admin); err != nil {
			return err
		}
		for i, h := range c.Admin.Hosts {
			if h == "*" {
				continue
			}
			// Compared as the gateway compares a Host: in lower case,
			// without a trailing dot; underscores, which container
			// names use, count as hyphens.
			name := strings.ReplaceAll(strings.TrimSuffix(strings.ToLower(h), "."), "_", "-")
			if err := checkDomain(name); err != nil {
				return c.errorAt(fmt.Sprintf("admin.hosts[%d]", i), "%q: %v (a name without port, or \"*\" for any host; addresses and localhost are answered without being listed)", h, err)
			}
		}
	}
	return nil
}

// minDNSRefresh is the least registry.dns_refresh: a name asked more often
// would load the DNS servers for no gain.
const minDNSRefresh = 100 * time.Millisecond

// validateRegistry checks the registry and returns the services its static
// nodes belong to.
func (c *Config) validateRegistry() (map[string]bool, error) {
	known := make(map[string]bool)
	switch c.Registry.Kind {
	case "static", "consul":
	default:
		return nil, c.errorAt("registry.kind", "unknown registry kind %q: use static or consul", c.Registry.Kind)
	}
	if d := c.Registry.DNSRefresh; d < minDNSRefresh {
		return nil, c.errorAt("registry.dns_refresh", "must be at least %v", minDNSRefresh)
	}
	if a := c.Registry.DNSServer; a != "" {
		if ap, err := netip.ParseAddrPort(a); err != nil || ap.Port() == 0 {
			return nil, c.errorAt("registry.dns_server", "%q is not an IP address and port (a name would need a server to find the server)", a)
		}
	}
	for i, n := range c.Registry.Static {
		node := n.node()
		if err := node.Validate(); err != nil {
			return nil, c.errorAt(fmt.Sprintf("registry.static[%d]", i), "%v", err)
		}
		known[n.Service] = true
	}
	return known, nil
}

func (c *Config) validateUpstream() error {
	if c.Upstream.MaxRetries < -1 {
		return c.errorAt("upstream.max_retries", "must be -1 (no retries) or more")
	}
	if r := c.Upstream.RetryBudget.Ratio; r != -1 && (r < 0 || r > 1) {
		return c.errorAt("upstream.retry_budget.ratio", "must be between 0 and 1, or -1 to disable")
	}
	if f := c.Upstream.RetryBudget.Floor; f != nil && *f < 0 {
		return c.errorAt("upstream.retry_budget.floor", "must not be negative")
	}
	if p := c.Upstream.Ejection.MaxEjectedPercent; p < 0 || p > 100 {
		return c.errorAt("upstream.ejection.max_ejected_percent", "must be 0 to 100")
	}
	if c.Upstream.Ejection.ConsecutiveFaults < 0 {
		return c.errorAt("upstream.ejection.consecutive_faults", "must not be negative")
	}
	if c.Upstream.HedgeAfter < 0 {
		return c.errorAt("upstream.hedge_after", "must not be negative")
	}
	if c.Upstream.Breaker.MinCalls < 0 {
		return c.errorAt("upstream.breaker.min_calls", "must not be negative")
	}
	if r := c.Upstream.Breaker.FailureRatio; r < 0 || r > 1 {
		return c.errorAt("upstream.breaker.failure_ratio", "must be between 0 and 1")
	}
	switch l := c.Upstream.ConcurrencyLimit; {
	case l.Min < 0 || l.Max < 0:
		return c.errorAt("upstream.concurrency_limit", "min and max must not be negative")
	case l.Max > 0 && l.Min > l.Max:
		return c.errorAt("upstream.concurrency_limit.min", "must not exceed max")
	case l.Tolerance != 0 && l.Tolerance < 1:
		return c.errorAt("upstream.concurrency_limit.tolerance", "must be at least 1")
	}
	return nil
}

// Bounds of limits.max_backend_header_bytes. Below 1 KiB an ordinary
// answer's status line, Date, Content-Type and a cookie or two no longer
// fit (and a value meant in KiB is caught); above 10 MiB, net/http's own
// default, is the exposure the setting exists to bound.
const (
	minBackendHeaderBytes = 1 << 10
	maxBackendHeaderBytes = 10 << 20
)

// minHeldBodyBytes is the least limits.max_held_body_bytes: an RPC route's
// body of the default 1 MiB fits (and a value meant in KiB is caught).
const minHeldBodyBytes = 1 << 20

func (c *Config) validateLimits() error {
	if n := c.Limits.MaxBackendHeaderBytes; n != 0 && (n < minBackendHeaderBytes || n > maxBackendHeaderBytes) {
		return c.errorAt("limits.max_backend_header_bytes", "must be from %d (1 KiB) to %d (10 MiB), or 0 for the default (64 KiB)", minBackendHeaderBytes, maxBackendHeaderBytes)
	}
	if n := c.Limits.MaxHeldBodyBytes; n != 0 && n < minHeldBodyBytes {
		return c.errorAt("limits.max_held_body_bytes", "must be at least %d (1 MiB), or 0 for the default (128 MiB)", minHeldBodyBytes)
	}
	if c.Limits.MaxClientConnections < 0 {
		return c.errorAt("limits.max_client_connections", "must be positive, or 0 for the default (half the descriptor limit)")
	}
	return nil
}

func (c *Config) validateServices() error {
	for name, svc := range c.Services {
		path := "services." + name
		switch svc.Strategy {
		case "", "least_loaded", "round_robin", "random", "weighted":
		default:
			return c.errorAt(path+".strategy", "unknown strategy %q: use least_loaded, round_robin, random or weighted", svc.Strategy)
		}
		if err := selector.ValidateSplits(svc.splits()); err != nil {
			return c.errorAt(path+".canary", "%v", err)
		}
		if svc.HealthCheck != nil {
			if err := c.validateHealthCheck(path+".health_check", svc.HealthCheck); err != nil {
				return err
			}
		}
		if svc.TLS != nil {
			if err := c.checkBackendTLS(path+".tls", svc.TLS); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateHealthCheck checks a service's health_check at path.
func (c *Config) validateHealthCheck(path string, h *HealthCheck) error {
	if c.Registry.Kind != "static" {
		return c.errorAt(path, "applies to registry.kind static only: with %s, the registry's own checks decide which nodes are healthy", c.Registry.Kind)
	}
	if !strings.HasPrefix(h.Path, "/") {
		return c.errorAt(path+".path", "required: the path each probe asks for with GET, starting with /")
	}
	// Parsed as each probe's URL is (a node's address, then the path), so
	// that a path no probe can ask for ("/health%") is refused here, not
	// failed on every node, which serves them all (fail open).
	if _, err := url.Parse("http://node" + h.Path); err != nil {
		return c.errorAt(path+".path", "no probe can ask for it: %v", errors.Unwrap(err))
	}
	if h.Interval < 0 || h.Timeout < 0 {
		return c.errorAt(path, "interval and timeout must not be negative")
	}
	if h.UnhealthyThreshold < 0 || h.HealthyThreshold < 0 {
		return c.errorAt(path, "unhealthy_threshold and healthy_threshold must not be negative")
	}
	return nil
}

func (c *Config) validateDefaultBudget() error {
	if err := (budget.Policy{Timeout: c.Defaults.Budget.Timeout, Max: c.Defaults.Budget.Max, Min: c.Defaults.Budget.Min}).Validate(); err != nil {
		return c.errorAt("defaults.budget", "%v", err)
	}
	if c.Defaults.MaxBodyBytes < 0 {
		return c.errorAt("defaults.max_body_bytes", "must not be negative")
	}
	return nil
}

// RouteMaxBodyBytes returns the largest request body route i accepts: its
// own max_body_bytes, else defaults.max_body_bytes; zero leaves the
// router's default (none on an HTTP route, 1 MiB on an RPC route).
func (c *Config) RouteMaxBodyBytes(i int) int64 {
	if n := c.Routes[i].MaxBodyBytes; n > 0 {
		return n
	}
	return c.Defaults.MaxBodyBytes
}

// checkMaxBody checks route i's bound on bodies: not negative, and on an
// RPC route, which holds its body whole, no more than the bodies held at
// once may take.
func (c *Config) checkMaxBody(i int) error {
	path := fmt.Sprintf("routes[%d].max_body_bytes", i)
	if c.Routes[i].MaxBodyBytes < 0 {
		return c.errorAt(path, "must not be negative")
	}
	held := c.Limits.MaxHeldBodyBytes
	if held == 0 {
		held = router.DefaultHeldBodyBytes
	}
	if n := c.RouteMaxBodyBytes(i); c.Routes[i].Endpoint != "" && n > held {
		if c.Routes[i].MaxBodyBytes == 0 {
			path = "defaults.max_body_bytes"
		}
		return c.errorAt(path, "%d is more than limits.max_held_body_bytes (%d): an RPC route holds its body whole", n, held)
	}
	return nil
}

// validateRoutes checks the routes, and their services against known when
// it is not nil.
func (c *Config) validateRoutes(known map[string]bool) error {
	for i, r := range c.Routes {
		for _, p := range ReservedPaths {
			if r.Path == p {
				return c.errorAt(fmt.Sprintf("routes[%d].path", i), "%s is served by the gateway itself", p)
			}
		}
		if len(r.Upgrades) > 0 && r.Endpoint != "" {
			return c.errorAt(fmt.Sprintf("routes[%d].upgrades", i), "upgrades applies to HTTP routes, not RPC routes")
		}
		for j, p := range r.Upgrades {
			if !isToken(p) {
				return c.errorAt(fmt.Sprintf("routes[%d].upgrades[%d]", i, j), "protocol %q is not an Upgrade token (such as websocket)", p)
			}
		}
		if err := c.checkMaxBody(i); err != nil {
			return err
		}
		if known != nil && c.Registry.Kind == "static" && r.Service != "" && !known[r.Service] {
			return c.errorAt(fmt.Sprintf("routes[%d].service", i), "no node of service %q is listed under registry.static", r.Service)
		}
	}
	if _, err := router.New(c.RouterRoutes(), nil, router.Options{}); err != nil {
		var fe *router.FieldError
		if errors.As(err, &fe) && fe.Route >= 0 {
			return c.errorAt(fmt.Sprintf("routes[%d].%s", fe.Route, fe.Field), "%v", fe.Err)
		}
		return c.errorAt("routes", "%v", err)
	}
	return nil
}

func checkAddress(a string) error {
	if _, _, err := net.SplitHostPort(a); err != nil {
		return fmt.Errorf("address %q must be host:port", a)
	}
	return nil
}

func (n StaticNode) node() *registry.Node {
	return &registry.Node{ID: n.ID, Service: n.Service, Address: n.Address, Version: n.Version,
		Datacenter: n.Datacenter, Metadata: n.Metadata}
}

// StaticNodes returns the nodes of the static registry.
func (c *Config) StaticNodes() []*registry.Node {
	nodes := make([]*registry.Node, len(c.Registry.Static))
	for i, n := range c.Registry.Static {
		nodes[i] = n.node()
	}
	return nodes
}

// RouterRoutes returns the routes in the router's terms.
func (c *Config) RouterRoutes() []router.Route {
	out := make([]router.Route, len(c.Routes))
	for i, r := range c.Routes {
		out[i] = router.Route{
			Name: r.Name, Method: r.Method, Path: r.Path, Hosts: r.Hosts, Service: r.Service,
			Endpoint: r.Endpoint, Rewrite: r.Rewrite, Idempotent: r.Idempotent, Upgrades: r.Upgrades,
			MaxBodyBytes: c.RouteMaxBodyBytes(i),
			Budget: budget.Policy{Timeout: r.Budget.Timeout, Max: r.Budget.Max, Min: r.Budget.Min,
				AllowRaise: r.Budget.AllowRaise != nil && *r.Budget.AllowRaise},
		}
		if r.Stream != nil {
			out[i].Stream = &router.StreamPolicy{IdleTimeout: r.Stream.IdleTimeout, MaxLifetime: r.Stream.MaxLifetime}
		}
		if d := r.Redirect; d != nil {
			out[i].Redirect = &router.Redirect{To: d.To, Status: d.Status}
		}
		if a := r.Respond; a != nil {
			out[i].Respond = &router.Respond{Status: a.Status, Body: a.Body, ContentType: a.ContentType}
		}
	}
	return out
}

// isToken reports whether p is an HTTP token, as an Upgrade protocol
// must be: not empty, no space, control character or separator.
func isToken(p string) bool {
	return p != "" && !strings.ContainsFunc(p, func(c rune) bool {
		return c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c)
	})
}

func checkServer(name string) error {
	switch name {
	case "", ServerSluice, ServerNetHTTP:
		return nil
	}
	return fmt.Errorf("unknown server %q: use %q or %q", name, ServerSluice, ServerNetHTTP)
}

// checkProxyProtocol parses p's networks (at path), which must be some.
func (c *Config) checkProxyProtocol(path string, p *ProxyProtocol) error {
	if p == nil {
		return nil
	}
	if len(p.From) == 0 {
		return c.errorAt(path+".from", "name the load balancers that send the PROXY header: at least one network")
	}
	n, err := middleware.ParseNetworks(p.From)
	if err != nil {
		return c.errorAt(path+".from", "%v", err)
	}
	p.from = n
	return nil
}
