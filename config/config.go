package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sluicehq/sluice/config/source"
	"github.com/sluicehq/sluice/middleware"
)

// Config is the gateway's configuration, as written in YAML. Zero values mean
// the defaults that docs/configuration.md lists.
type Config struct {
	// Listeners are the addresses the gateway serves routes on.
	Listeners []Listener `yaml:"listeners"`
	// Admin is the optional listener for /metrics, /healthz and /readyz.
	Admin *Listener `yaml:"admin"`
	// ShutdownGrace bounds how long in-flight requests may drain on SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// DrainDelay is how long, on SIGTERM, /readyz answers 503 while the
	// listeners still accept, so that load balancers stop sending before the
	// gateway stops accepting. Zero (the default) stops accepting at once.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// Limits bound how long the gateway waits on a slow client, and how
	// large a header it takes from a backend.
	Limits Limits `yaml:"limits"`
	// Registry says where services are found.
	Registry Registry `yaml:"registry"`
	// Upstream tunes calls to backends.
	Upstream Upstream `yaml:"upstream"`
	// Services set per-service selection: strategy, canary, locality.
	Services map[string]Service `yaml:"services"`
	// Defaults apply to every route that does not say otherwise.
	Defaults RouteDefaults `yaml:"defaults"`
	// Routes map requests to services.
	Routes []Route `yaml:"routes"`
	// Auth declares the token verifiers routes refer to by name.
	Auth Auth `yaml:"auth"`
	// TrustedProxies are the networks (CIDR prefixes or addresses) whose
	// X-Forwarded-For is believed when a rate limit keys by client address,
	// and when a switched connection is charged to its client's address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Watch says how changes of the configuration are followed.
	Watch Watch `yaml:"watch"`
	// Tracing exports OpenTelemetry spans of requests; off by default.
	Tracing Tracing `yaml:"tracing"`
	// Redis is the store of the global rate limits (rate_limit.global),
	// shared by every replica; see redis.go.
	Redis *Redis `yaml:"redis"`

	file      string
	dir       string // relative file names are taken from here; "" means file's directory
	hash      string // of the text parsed
	pos       map[string]Pos
	verifiers map[string]*middleware.JWTVerifier
	jwks      map[string]*middleware.JWKS // by provider; those with a jwks block
	apiKeys   map[string]*middleware.APIKeys
	proxies   *middleware.TrustedProxies
	// allowFrom holds each route's parsed allow_from (nil: any client).
	allowFrom []*middleware.Networks
	// headers holds each route's header rules (nil: none).
	headers []*middleware.HeaderRules
	// requireClaims holds each route's claim requirements (nil: none).
	requireClaims []*middleware.ClaimRequirements
	cors          []*middleware.CORS     // by route; nil where a route has none
	compress      []*middleware.Compress // by route; nil where a route has none
}

// Listener is one address to serve on.
type Listener struct {
	Address string `yaml:"address"`
	// Server is the HTTP/1.x server that serves the address: "sluice" (the
	// default on route listeners, the lean server of package server) or
	// "net/http" (the standard library's, the default on the admin
	// listener).
	Server string `yaml:"server"`
	// WatchAfter is how long a request runs before the "sluice" server
	// watches its connection for the client leaving, which cancels the
	// request and the calls behind it. Zero means server.DefaultWatchAfter
	// (10ms); a negative value watches every request from its start, as
	// net/http does. net/http's server ignores it.
	WatchAfter time.Duration `yaml:"watch_after"`
	// TLS, when set, makes the listener an HTTPS listener, which net/http's
	// server serves (with HTTP/2 by ALPN) whatever Server says.
	TLS *TLS `yaml:"tls"`
	// H2C serves HTTP/2 without TLS (prior knowledge) beside HTTP/1.x, for
	// a cleartext listener behind a load balancer that speaks HTTP/2 to
	// its backends. net/http's server serves such a listener.
	H2C bool `yaml:"h2c"`
	// RedirectHTTPS answers every request of a cleartext listener, except
	// /healthz and /readyz, with a 308 to the same URL over https, when the
	// Host is one the gateway serves over TLS (acme domains, certificate
	// names); another Host is answered 400. With no TLS listener, any plain
	// Host is redirected.
	RedirectHTTPS bool `yaml:"redirect_https"`
	// HTTPSPort is the port RedirectHTTPS sends clients to; zero means 443,
	// which the URL leaves out.
	HTTPSPort int `yaml:"https_port"`
	// Hosts, on a cleartext admin listener, are the host names besides IP
	// addresses and localhost whose requests it answers ("*": any); a
	// request naming another host is refused with 421, which keeps a web
	// page that rebinds its own name to the gateway's address (DNS
	// rebinding) from reading the admin listener through a browser.
	// /healthz and /readyz answer any host. Route listeners refuse it.
	Hosts []string `yaml:"hosts"`
	// ProxyProtocol, on a route listener behind a load balancer of layer 4
	// (AWS NLB or CLB, HAProxy in TCP mode), makes the connections from
	// its sources start with a PROXY protocol header (v1 or v2, before
	// TLS), whose source address is then the client's everywhere; other
	// connections are served as they are, no header read.
	ProxyProtocol *ProxyProtocol `yaml:"proxy_protocol"`
}

// ProxyProtocol is a listener's proxy_protocol: the load balancers that
// send the PROXY protocol header (server.ProxyListener).
type ProxyProtocol struct {
	// From are the balancers' networks, CIDR prefixes or addresses: a
	// connection from one of them must send its header within 10 seconds
	// (server.ProxyHeaderTimeout) or is closed, as one whose header is
	// malformed. At least one.
	From []string `yaml:"from"`

	from *middleware.Networks // From, parsed by Validate
}

// Trusts reports whether a connection from a must send a PROXY header.
func (p *ProxyProtocol) Trusts(a netip.Addr) bool { return p != nil && p.from.Contains(a) }

// Limits bound how long the gateway waits on a slow client, on every
// listener, and how large a header it takes from a backend. Zero values
// mean the defaults of the packages they are handed to (router's, h1's).
type Limits struct {
	// BodyIdleTimeout bounds each read of a request body the gateway
	// forwards: a client that sends no byte of its body for this long is
	// answered 408. A body no route reads (a 404, a 401) must come within
	// it too, or the answer goes out with the connection closed. Zero
	// means router.DefaultBodyIdleTimeout (10s).
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// WriteIdleTimeout bounds each write to the client: a client that reads
	// nothing for this long has its answer cut off, and its connection
	// closed. Zero means router.DefaultWriteIdleTimeout (30s).
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	// TunnelIdleTimeout ends a connection switched to another protocol (a
	// WebSocket, say) when no byte went either way for this long. Zero
	// means router.DefaultUpgradeIdleTimeout.
	TunnelIdleTimeout time.Duration `yaml:"tunnel_idle_timeout"`
	// TunnelMaxLifetime ends a switched connection this long after the
	// switch, however busy. Zero means router.DefaultUpgradeMaxLifetime.
	TunnelMaxLifetime time.Duration `yaml:"tunnel_max_lifetime"`
	// MaxBackendHeaderBytes bounds the header of a backend's answer, its
	// informational (1xx) answers included, in bytes: a larger one is
	// answered 502, as a malformed answer is, and counts against the node.
	// A backend's bytes are not trusted: the gateway holds a header whole
	// while it reads it, on each of up to 256 connections per node, and
	// passes it on to the client. Zero means
	// h1.DefaultMaxResponseHeaderBytes (64 KiB, as a client's request
	// header); at most 10 MiB. Read at start: a reload keeps the value the
	// gateway started with, as the connection pools it bounds live for the
	// whole process.
	MaxBackendHeaderBytes int `yaml:"max_backend_header_bytes"`
	// MaxHeldBodyBytes bounds the request bodies the gateway holds at once
	// so that a request can be sent again, beyond each body's first 4 KiB.
	// Each connection may hold one (64 KiB on an HTTP route, an RPC
	// route's whole body of up to 1 MiB), so the connection bound is no
	// bound of that memory. A body that finds no room left is streamed on
	// an HTTP route, as a larger body is, and answered 503 on an RPC route,
	// which must hold its body whole. Zero means
	// router.DefaultHeldBodyBytes (128 MiB); otherwise at least 1 MiB.
	MaxHeldBodyBytes int64 `yaml:"max_held_body_bytes"`
	// MaxClientConnections bounds the client connections open at once on
	// the route listeners together: one accepted over it is closed at
	// once. Each holds a file descriptor, and a process out of them can
	// neither accept (the admin listener included) nor dial a node. Zero
	// means half the process's descriptor limit, the other half kept for
	// the dials to nodes, the admin listener, Consul, Redis and files, and
	// at most 50000 (an idle connection holds about 21 KiB). Read at
	// start, as the listeners are.
	MaxClientConnections int `yaml:"max_client_connections"`
	// MaxClientConnectionsPerAddress bounds, within MaxClientConnections,
	// the connections of one client address (an IPv6 one by its /64), so
	// that one address cannot take every place and shut the others out;
	// the trusted_proxies, whose connections carry every client's, are
	// bound by the whole only. Zero means an eighth of
	// MaxClientConnections, generous for the many users a carrier's NAT
	// puts behind one address; a negative value bounds no address. Half of
	// an address's connections at most may be switched (WebSockets) at
	// once, so that a few addresses cannot take every switched place: a
	// handshake counts under its client's address as rate limits read it,
	// through the trusted_proxies' X-Forwarded-For. Read at start, as the
	// listeners are.
	MaxClientConnectionsPerAddress int `yaml:"max_client_connections_per_address"`
}

// Server names of Listener.Server.
const (
	ServerSluice  = "sluice"
	ServerNetHTTP = "net/http"
)

// Registry selects and configures service discovery.
type Registry struct {
	// Kind is "static" (the default) or "consul".
	Kind string `yaml:"kind"`
	// Static lists the nodes of a static registry.
	Static []StaticNode `yaml:"static"`
	// DNSRefresh is how often the host names of static nodes' addresses
	// are looked up again; each address a name resolves to is a node of
	// its own (registry.Names). Zero means registry.DefaultDNSRefresh; at
	// least 100ms.
	DNSRefresh time.Duration `yaml:"dns_refresh"`
	// DNSServer is the host:port (an IP address) of the DNS server those
	// names are asked of; empty means the system's resolver (/etc/hosts,
	// then /etc/resolv.conf).
	DNSServer string `yaml:"dns_server"`
	// Consul configures the Consul registry.
	Consul Consul `yaml:"consul"`
}

// StaticNode is one node of a static registry.
type StaticNode struct {
	Service    string            `yaml:"service"`
	ID         string            `yaml:"id"`
	Address    string            `yaml:"address"`
	Version    string            `yaml:"version"`
	Datacenter string            `yaml:"datacenter"`
	Metadata   map[string]string `yaml:"metadata"`
}

// Consul configures discovery through a Consul agent.
type Consul struct {
	// Address of the agent's HTTP API; empty means 127.0.0.1:8500.
	Address string `yaml:"address"`
	// Datacenter to query; empty means the agent's own.
	Datacenter string `yaml:"datacenter"`
	// MaxStale is how long a snapshot may go without a successful refresh
	// before lookups fail with 503; zero serves the last good nodes forever.
	MaxStale time.Duration `yaml:"max_stale"`
	// DropGrace is how long a sudden drop of a service to zero nodes is
	// doubted (the last good nodes kept) before it is believed. Zero means
	// the cache's default of 5s.
	DropGrace time.Duration `yaml:"drop_grace"`
}

// Upstream tunes the client the gateway calls backends with.
type Upstream struct {
	// Margin is subtracted from the budget sent to each hop. Default 1ms.
	Margin time.Duration `yaml:"margin"`
	// MaxRetries bounds retries per request. Default 2; -1 disables retries.
	MaxRetries int `yaml:"max_retries"`
	// PerTryTimeout cuts each attempt to at most this long (never beyond
	// the request's budget). Zero derives one from the budget left and the
	// node's observed latency, else the service's
	// (upstream.RetryPolicy.PerTryTimeout); a
	// negative value gives each attempt all that is left.
	PerTryTimeout time.Duration `yaml:"per_try_timeout"`
	// HedgeAfter, when positive, hedges idempotent requests: a second
	// attempt to another node after this long without an answer, counted
	// as a retry; the first answer wins. Zero (the default) turns it off.
	HedgeAfter time.Duration `yaml:"hedge_after"`
	// ConnectTimeout bounds the connect of a connection to a node: one not
	// made by then is given up, retried on another node for any method
	// (nothing was sent), and counted against the node. Zero means
	// upstream.DefaultConnectTimeout (1s); a negative value leaves the
	// connect to the attempt's deadline alone.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RetryBudget bounds retries to a share of requests.
	RetryBudget RetryBudget `yaml:"retry_budget"`
	// Backoff shapes the wait between attempts.
	Backoff Backoff `yaml:"backoff"`
	// Breaker configures the circuit breaker of each service.
	Breaker Breaker `yaml:"breaker"`
	// Ejection configures how failing nodes are kept out for a while.
	Ejection Ejection `yaml:"ejection"`
	// ConcurrencyLimit configures the adaptive concurrency limit of each
	// node, with which overload is shed at once.
	ConcurrencyLimit ConcurrencyLimit `yaml:"concurrency_limit"`
}

// ConcurrencyLimit configures the adaptive concurrency limit of each node
// (see upstream.Limits; defaults there): how many requests a node may have
// in flight before its answers queue, learnt from their round trips. A call
// whose every node is at its limit is refused at once, 503 overloaded.
type ConcurrencyLimit struct {
	// Min is the least limit. Default 20.
	Min int `yaml:"min"`
	// Max is the greatest limit, and where every node starts. Default 1000.
	Max int `yaml:"max"`
	// Tolerance is how many times its baseline round trip (its usual one)
	// a node's answers may take before its limit falls (at least 1). Default 2.
	Tolerance float64 `yaml:"tolerance"`
	// Disabled turns the limits off.
	Disabled bool `yaml:"disabled"`
}

// RetryBudget bounds retries per service.
type RetryBudget struct {
	// Ratio of requests that may be retried. Default 0.2; -1 disables the
	// retry budget.
	Ratio float64 `yaml:"ratio"`
	// Floor of retries per second allowed whatever the traffic. Default 10.
	Floor *float64 `yaml:"floor"`
}

// Backoff is the full-jitter exponential wait between attempts.
type Backoff struct {
	Base time.Duration `yaml:"base"` // default 25ms
	Cap  time.Duration `yaml:"cap"`  // default 250ms
}

// Breaker configures per-service circuit breakers: a breaker opens when the
// service as a whole fails, not when one node does (see
// upstream.BreakerSettings; defaults there).
type Breaker struct {
	// Window is how far back calls count. Default 10s.
	Window time.Duration `yaml:"window"`
	// MinCalls is the least number of calls in the window that may open
	// the breaker. Default 20.
	MinCalls int `yaml:"min_calls"`
	// FailureRatio of calls failed by a dependency fault (after retries)
	// opens the breaker, when the faults come from more than half of the
	// service's nodes and, when more than one client called, the other
	// clients' calls fail at this ratio too without the client whose calls
	// failed most (one client cannot open it for all). Default 0.8.
	FailureRatio float64 `yaml:"failure_ratio"`
	// OpenFor is how long it stays open before a probe. Default 5s.
	OpenFor time.Duration `yaml:"open_for"`
	// Disabled turns breakers off.
	Disabled bool `yaml:"disabled"`
}

// Ejection configures outlier ejection.
type Ejection struct {
	ConsecutiveFaults int           `yaml:"consecutive_faults"`  // default 5
	BaseTime          time.Duration `yaml:"base_time"`           // default 2s
	MaxTime           time.Duration `yaml:"max_time"`            // default 30s
	MaxEjectedPercent int           `yaml:"max_ejected_percent"` // default 50
	Disabled          bool          `yaml:"disabled"`
}

// Service is the selection policy of one service.
type Service struct {
	// Strategy is least_loaded (default), round_robin, random or weighted
	// (by the node metadata key "weight").
	Strategy string `yaml:"strategy"`
	// Canary sends explicit shares of requests to versions.
	Canary []CanarySplit `yaml:"canary"`
	// PreferDatacenter prefers nodes of this datacenter, falling back to
	// the others when none is available.
	PreferDatacenter string `yaml:"prefer_datacenter"`
	// Require keeps only nodes whose metadata has these values.
	Require map[string]string `yaml:"require"`
	// HealthCheck probes each static node of the service and leaves out
	// those that fail it; refused with registry.kind consul, whose agent
	// checks the nodes.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// TLS reaches the service's nodes over TLS (see BackendTLS); without
	// it, over plain HTTP.
	TLS *BackendTLS `yaml:"tls"`
}

// HealthCheck is the active health check of a service's static nodes
// (registry.HealthCheck, whose constants give the defaults).
type HealthCheck struct {
	// Path is what each probe asks for with GET; a 2xx passes. Required.
	Path string `yaml:"path"`
	// Interval is the time from the end of a node's probe to the start of
	// its next. Default 5s.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one probe. Default 1s.
	Timeout time.Duration `yaml:"timeout"`
	// UnhealthyThreshold is how many failed probes in a row take a node
	// out. Default 2.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
	// HealthyThreshold is how many passes in a row bring it back.
	// Default 1.
	HealthyThreshold int `yaml:"healthy_threshold"`
}

// CanarySplit sends Weight (0 to 1) of a service's requests to Version.
type CanarySplit struct {
	Version string  `yaml:"version"`
	Weight  float64 `yaml:"weight"`
}

// RouteDefaults are the values a route takes when it does not set them.
type RouteDefaults struct {
	Budget Budget `yaml:"budget"`
	// CORS is the cross-origin policy of every route without its own.
	CORS *CORS `yaml:"cors"`
	// Compress is the response compression of every route without its
	// own; none when absent.
	Compress *Compress `yaml:"compress"`
	// Headers are the header edits of every route without its own.
	Headers *Headers `yaml:"headers"`
	// MaxBodyBytes is the largest request body of every route without its
	// own max_body_bytes; zero leaves HTTP routes unbounded and RPC routes
	// at router's default (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Budget is a route's budget policy.
type Budget struct {
	// Timeout is the budget of a request that asks for none. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// Max is the most a client may ask for. Default: Timeout.
	Max time.Duration `yaml:"max"`
	// Min is the least budget worth starting. Default 1ms.
	Min time.Duration `yaml:"min"`
	// AllowRaise lets any client ask for more than Timeout, up to Max.
	AllowRaise *bool `yaml:"allow_raise"`
}

// Stream bounds the streams of a stream route (router.StreamPolicy).
type Stream struct {
	// IdleTimeout ends a stream with no byte either way for this long.
	// Default: router.DefaultStreamIdleTimeout.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxLifetime ends a stream this long after its request arrived; it is
	// the budget the backend receives. Default:
	// router.DefaultStreamMaxLifetime.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
}

// Route maps a method and path to a service.
type Route struct {
	Name   string `yaml:"name"`
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	// Hosts are the host names (exact, or *. and a suffix for one label)
	// whose requests the route serves, ahead of the routes without hosts;
	// empty serves every host.
	Hosts   []string `yaml:"hosts"`
	Service string   `yaml:"service"`
	// Redirect answers the route's requests with a redirect, calling no
	// service.
	Redirect *Redirect `yaml:"redirect"`
	// Respond answers the route's requests with a fixed answer, calling no
	// service.
	Respond  *Respond `yaml:"respond"`
	Endpoint string   `yaml:"endpoint"`
	Rewrite  string   `yaml:"rewrite"`
	Budget   Budget   `yaml:"budget"`
	// Idempotent lets the gateway retry the route's requests after they
	// were sent, whatever their method (RPC routes forward as POST).
	Idempotent bool `yaml:"idempotent"`
	// MaxBodyBytes is the largest request body the route accepts (413
	// beyond); zero means defaults.max_body_bytes.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Stream, when present (even as {}), makes this a stream route: the
	// budget is replaced by an idle timeout and a maximum lifetime.
	Stream *Stream `yaml:"stream"`
	// Upgrades lists the protocols (Upgrade tokens, such as websocket) a
	// client may switch to through this HTTP route; empty means websocket
	// alone (router.Route.Upgrades). HTTP routes only.
	Upgrades []string `yaml:"upgrades"`
	// AllowFrom, when not empty, are the networks (CIDR prefixes or
	// addresses) whose clients the route serves; any other gets 403. The
	// client's address is read through trusted_proxies, as rate limits
	// read it.
	AllowFrom []string `yaml:"allow_from"`
	// Auth names the auth.jwt provider whose token every request needs.
	Auth string `yaml:"auth"`
	// RequireClaims maps claims of the verified token to the values any one
	// of which each must hold (middleware.ClaimRequirements); any other
	// token gets 403. Needs auth.
	RequireClaims map[string][]string `yaml:"require_claims"`
	// RateLimit limits the requests of each client of the route.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// CORS answers the route's cross-origin requests and preflights.
	CORS *CORS `yaml:"cors"`
	// Compress compresses the route's answers; defaults.compress when
	// absent.
	Compress *Compress `yaml:"compress"`
	// Headers edits the header of the route's requests and answers;
	// defaults.headers when absent.
	Headers *Headers `yaml:"headers"`
}

// Redirect is a route's redirect (router.Redirect).
type Redirect struct {
	// To is where: an http or https URL, or a path from /; on a path
	// ending in /*, what the * matched follows it. The query goes along
	// unless To has one.
	To string `yaml:"to"`
	// Status is 301, 302, 303, 307 or 308. Default 307
	// (router.DefaultRedirectStatus).
	Status int `yaml:"status"`
}

// Respond is a route's fixed answer (router.Respond).
type Respond struct {
	// Status is from 200 to 599. Default 200.
	Status int `yaml:"status"`
	// Body is the answer's body.
	Body string `yaml:"body"`
	// ContentType is the body's type. Default text/plain; charset=utf-8.
	ContentType string `yaml:"content_type"`
}

// Headers edits the header of a route's requests, before they are
// forwarded, and of its answers (middleware.HeaderRules).
type Headers struct {
	// Request edits the requests' header.
	Request HeaderEdits `yaml:"request"`
	// Response edits the answers' header, the gateway's own included.
	Response HeaderEdits `yaml:"response"`
}

// HeaderEdits are one side's edits.
type HeaderEdits struct {
	// Set gives each named field this one value, replacing any it had.
	Set map[string]string `yaml:"set"`
	// Remove lists the fields removed.
	Remove []string `yaml:"remove"`
}

// Error is a configuration error at a place in a file.
type Error struct {
	File         string
	Line, Column int
	// Path names the field, as routes[2].budget.timeout.
	Path string
	Msg  string
}

// Error implements the error interface.
func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Path != "" {
		return loc + ": " + e.Path + ": " + e.Msg
	}
	return loc + ": " + e.Msg
}

// MaxFileBytes bounds the size of a configuration file (and of a Consul KV
// value), as package source reads it.
const MaxFileBytes = source.MaxFileBytes

//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded default configuration: the example services
// on a static registry. docs/configuration.md shows it.
func Default() *Config {
	c, err := Parse("embedded default.yaml", defaultYAML)
	if err != nil {
		panic("config: the embedded default does not load: " + err.Error())
	}
	return c
}

// DefaultYAML returns the text of the embedded default configuration.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Load reads, checks and returns the configuration in file.
func Load(file string) (*Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	return Parse(file, data)
}

// Parse checks and returns the configuration in data; file names it in
// errors. It applies defaults and validates, so a Config it returns is ready
// to use.
func Parse(file string, data []byte) (*Config, error) {
	return ParseIn(file, "", data)
}

// ParseIn is Parse for a configuration that is not a file of its own, such
// as one read from Consul KV: relative file names in it (keys, certificates)
// are taken from dir instead of the directory of name. An empty dir is
// Parse's rule.
func ParseIn(file, dir string, data []byte) (*Config, error) {
	if err := checkShape(file, data); err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey()) // the decoder names duplicates itself
	if err != nil {
		return nil, syntaxError(file, err)
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, &Error{File: file, Msg: "the file is empty"}
	case len(docs) > 1:
		p := position(docs[1].Body)
		if docs[1].Start != nil && docs[1].Start.Position != nil {
			p = Pos{docs[1].Start.Position.Line, docs[1].Start.Position.Column}
		}
		return nil, &Error{File: file, Line: p.Line, Column: p.Column, Msg: "more than one YAML document"}
	}
	c := &Config{file: file, dir: dir, hash: source.Hash(data), pos: make(map[string]Pos)}
	env := &envValues{}
	d := &decoder{file: file, pos: c.pos, lookup: os.LookupEnv, env: env}
	doc := docs[0].Body
	if err := d.decode(doc, reflectValue(c), ""); err != nil {
		return nil, env.redact(err)
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, env.redact(err)
	}
	return c, nil
}

// File returns the name of the file the configuration came from.
func (c *Config) File() string { return c.file }

// Hash returns the hex SHA-256 of the text the configuration was parsed
// from, before environment references were expanded (what sha256sum prints
// for its file).
func (c *Config) Hash() string { return c.hash }

// errorAt returns an Error at the position of the field path, or of its
// closest ancestor that was written in the file.
func (c *Config) errorAt(path, format string, args ...any) error {
	return errorIn(c.file, c.pos, path, format, args...)
}

// errorIn is errorAt for the file whose fields are at pos: the
// configuration's, or a file it names (a keys file).
func errorIn(file string, pos map[string]Pos, path, format string, args ...any) error {
	e := &Error{File: file, Path: path, Msg: fmt.Sprintf(format, args...)}
	for p := path; ; {
		if at, ok := pos[p]; ok {
			e.Line, e.Column = at.Line, at.Column
			break
		}
		i := lastSep(p)
		if i < 0 {
			if at, ok := pos[""]; ok {
				e.Line, e.Column = at.Line, at.Column
			}
			break
		}
		p = p[:i]
	}
	return e
}

func lastSep(p string) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '.' || p[i] == '[' {
			return i
		}
	}
	return -1
}
