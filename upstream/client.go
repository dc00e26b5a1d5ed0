package upstream

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/internal/rmap"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/tracing"
)

// Discoverer finds the current nodes of a service. registry.Registry and
// registry.Cache satisfy it. Lookup must return the same slice for as long as
// a service's nodes are unchanged: the client rebuilds its picker when the
// slice changes.
type Discoverer interface {
	Lookup(ctx context.Context, service string) ([]*registry.Node, error)
}

// Defaults of a Client.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMargin     = time.Millisecond
	DefaultMaxRetries = 2
	// DefaultMaxAnswerBytes bounds the 2xx answers Call reads (see
	// WithMaxAnswerBytes): 4 MiB, gRPC's default for received messages.
	// It is four times rpc.DefaultMaxBodyBytes, the bound on requests,
	// since an answer (a list, a page) is often larger than what asked for
	// it, and a caller sizes its own requests but not its callees' answers.
	DefaultMaxAnswerBytes = 4 << 20
)

// Client calls named services. It is safe for concurrent use; make one per
// process and share it, since it holds connection pools, picker state and,
// unless WithLoads says otherwise, the in-flight counts of its nodes.
type Client struct {
	disc       Discoverer
	loads      *selector.Loads
	strategy   selector.Strategy            // always wrapped in selector.Pinnable
	strategies map[string]selector.Strategy // per service, wrapped likewise
	transport  http.RoundTripper
	tlsConfigs map[string]*tls.Config // WithServiceTLS, by service
	margin     time.Duration
	timeout    time.Duration
	retry      RetryPolicy
	budgets    *retryBudgets
	ejector    *selector.Ejector
	breakers   *Breakers
	limits     *Limits
	now        func() time.Time
	rand       func(int64) int64
	noEjector  bool
	noBreakers bool
	noLimits   bool
	clockSet   bool                           // now is not time.Now (WithClock)
	maxAnswer  int64                          // WithMaxAnswerBytes; 0: DefaultMaxAnswerBytes
	callerOf   func(*http.Request) netip.Addr // WithCaller; nil: one caller
	tracer     *tracing.Tracer                // nil: tracing off
	obs        Observer

	callWrappers    []func(CallFunc) CallFunc
	attemptWrappers []func(http.RoundTripper) http.RoundTripper
	call            CallFunc          // do, wrapped in callWrappers
	attempt         http.RoundTripper // transport, wrapped in attemptWrappers
	byDeadline      deadlineTransport // attempt, when it is one; else nil

	services rmap.Map[string, *service] // by the service's name (service.go)
}

// Option configures a Client.
type Option func(*Client)

// WithStrategy sets how nodes are selected. The default is
// selector.LeastLoaded over the client's Loads: the power of two choices on
// the requests in flight. Whatever the strategy, the client wraps it in
// selector.Pinnable, so that calls pinned with WithVersion are honoured.
func WithStrategy(s selector.Strategy) Option { return func(c *Client) { c.strategy = s } }

// WithServiceStrategy sets how the nodes of one service are selected,
// overriding WithStrategy for it.
func WithServiceStrategy(service string, s selector.Strategy) Option {
	return func(c *Client) {
		if c.strategies == nil {
			c.strategies = make(map[string]selector.Strategy)
		}
		c.strategies[service] = s
	}
}

// WithLoads sets where the client counts its requests in flight, per node,
// for the default strategy and for any strategy built over the same Loads.
// By default the client has its own. main should own one Loads and pass it
// to every Client it builds, so that the counts survive a reload that
// replaces the client while requests are in flight.
func WithLoads(l *selector.Loads) Option { return func(c *Client) { c.loads = l } }

// WithTransport sets the transport attempts go through. The default is
// NewLeanTransport(TransportOptions{}), the client's own.
func WithTransport(t http.RoundTripper) Option { return func(c *Client) { c.transport = t } }

// WithServiceTLS makes the client reach the nodes of service over TLS:
// https, its handshakes made with cfg. cfg's authorities verify a node's
// certificate (the system's when RootCAs is nil), cfg's ServerName is the
// name that certificate must hold and the one sent to the node (the
// host of the node's address when empty: an IP address, which a
// certificate seldom names, so set it), and cfg's client certificate
// answers a node that asks for one (mutual TLS). A handshake that fails
// sends nothing: the call goes to another node whatever its method, and
// the node is counted at fault, as one that refuses connections is.
// cfg must not be changed once given; a Client that replaces another
// (a reload) should be given the same *tls.Config for the same settings,
// so that it reuses the connections made with it.
//
// Only the client's own transport (NewLeanTransport's, the default) makes
// the handshake with cfg; a transport given by WithTransport is sent https
// requests and makes its handshakes as it is configured to.
func WithServiceTLS(service string, cfg *tls.Config) Option {
	return func(c *Client) {
		if c.tlsConfigs == nil {
			c.tlsConfigs = make(map[string]*tls.Config)
		}
		c.tlsConfigs[service] = cfg
	}
}

// WithMargin sets the per-hop margin subtracted from the budget sent with
// each attempt, to cover the time the answer takes to come back.
func WithMargin(d time.Duration) Option { return func(c *Client) { c.margin = d } }

// WithDefaultTimeout sets the budget of calls whose context has no deadline.
func WithDefaultTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithEjector sets where the client remembers failing nodes, to keep them
// out of selection for a while. By default the client has its own; main
// should own one and pass it to every Client, so that ejections outlive a
// reload. A nil Ejector disables ejection.
func WithEjector(e *selector.Ejector) Option {
	return func(c *Client) { c.ejector = e; c.noEjector = e == nil }
}

// WithBreakers sets the per-service circuit breakers. By default the client
// has its own; a nil value disables breakers.
func WithBreakers(b *Breakers) Option {
	return func(c *Client) { c.breakers = b; c.noBreakers = b == nil }
}

// WithMaxAnswerBytes bounds the body of the 2xx answers Call reads to n
// bytes: a larger one fails the call with an *AnswerError wrapping
// ErrAnswerTooLarge (502), its connection closed, without being read past
// n, so that a callee cannot make its caller hold more than that. A
// discarded answer (a nil rsp) is drained up to n and then closed. Zero or
// less means DefaultMaxAnswerBytes. Do is not bounded: its caller reads
// the body.
func WithMaxAnswerBytes(n int64) Option { return func(c *Client) { c.maxAnswer = n } }

// CallFunc is one logical call: all attempts of a request.
type CallFunc func(r *http.Request) (*http.Response, error)

// WithCallWrapper adds middleware around each whole call (every attempt,
// back-off and retry of it). The first added is the outermost.
func WithCallWrapper(w func(CallFunc) CallFunc) Option {
	return func(c *Client) { c.callWrappers = append(c.callWrappers, w) }
}

// WithAttemptWrapper adds middleware around each attempt, which sees the
// node in the request's URL and AttemptFromContext: for metrics, logs or
// per-node policies. The first added is the outermost.
func WithAttemptWrapper(w func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *Client) { c.attemptWrappers = append(c.attemptWrappers, w) }
}

// Ejector returns the client's ejector, or nil; Breakers its breakers. Admin
// endpoints read their state.
func (c *Client) Ejector() *selector.Ejector { return c.ejector }

// Breakers returns the client's circuit breakers, or nil.
func (c *Client) Breakers() *Breakers { return c.breakers }

// WithTracer makes each attempt a client span of t, the child of the span in
// the call's context, and sends the attempt's own traceparent in place of the
// one the request had. Nil, the default, leaves tracing off: no span is made
// and the request's traceparent, if any, goes as it is.
func WithTracer(t *tracing.Tracer) Option { return func(c *Client) { c.tracer = t } }

// WithClock sets the clock the client reads the budget with. Tests use it.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now, c.clockSet = now, true } }

// New returns a client that finds nodes through d.
func New(d Discoverer, opts ...Option) *Client {
	c := &Client{
		disc:    d,
		margin:  DefaultMargin,
		timeout: DefaultTimeout,
		retry:   DefaultRetryPolicy(),
		now:     time.Now,
		rand:    defaultRand,
	}
	for _, o := range opts {
		o(c)
	}
	if c.ejector == nil && !c.noEjector {
		c.ejector = selector.NewEjector(selector.EjectSettings{})
	}
	if c.breakers == nil && !c.noBreakers {
		c.breakers = NewBreakers(BreakerSettings{})
	}
	if c.limits == nil && !c.noLimits {
		c.limits = NewLimits(LimitSettings{Now: c.now})
	}
	if c.retry.BudgetRatio >= 0 {
		c.budgets = &retryBudgets{ratio: c.retry.BudgetRatio, floor: c.retry.BudgetFloor, now: c.now}
	}
	if c.loads == nil {
		c.loads = selector.NewLoads()
	}
	if c.strategy == nil {
		c.strategy = selector.LeastLoaded(c.loads)
	}
	c.strategy = selector.Pinnable(c.strategy)
	for name, st := range c.strategies {
		c.strategies[name] = selector.Pinnable(st)
	}
	if c.transport == nil {
		c.transport = NewLeanTransport(TransportOptions{})
	}
	c.attempt = c.transport
	for i := len(c.attemptWrappers) - 1; i >= 0; i-- {
		c.attempt = c.attemptWrappers[i](c.attempt)
	}
	c.byDeadline, _ = c.attempt.(deadlineTransport)
	c.call = c.doWithDeadline
	for i := len(c.callWrappers) - 1; i >= 0; i-- {
		c.call = c.callWrappers[i](c.call)
	}
	return c
}

type versionKey struct{}

// WithVersion returns a copy of ctx that pins the calls made with it to the
// nodes of version v: an exact version ("2.1.0"), a prefix ("2.1" for any
// 2.1.x) or, for versions that are not semantic, an exact text, matched as
// selector.VersionIs does. Retries stay within the version. A pinned version
// that no node runs fails the call with a *NoNodesError wrapping a
// *selector.VersionError (503), rather than going elsewhere. An empty v
// removes the pin.
//
// A backend pins its own calls, say to test a release. The gateway does not
// turn a header sent by an edge client into a pin: that must stay an
// explicit choice of its configuration, per route (none exists yet), since
// edge clients must not steer traffic onto versions at will.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// PinnedVersion returns the version that WithVersion pinned ctx to, or "".
func PinnedVersion(ctx context.Context) string {
	v, _ := ctx.Value(versionKey{}).(string)
	return v
}

type pickerEntry struct {
	nodes  []*registry.Node
	picker selector.Picker
}

// picker returns the picker for nodes of svc, named name, building it when
// the snapshot changed.
func (c *Client) picker(svc *service, name string, nodes []*registry.Node) selector.Picker {
	p := &svc.picker
	old := p.Load()
	if old != nil && sameSlice(old.nodes, nodes) {
		return old.picker
	}
	strategy := c.strategy
	if st, ok := c.strategies[name]; ok {
		strategy = st
	}
	e := &pickerEntry{nodes: nodes, picker: strategy(nodes)}
	for !p.CompareAndSwap(old, e) {
		// Another call stored a picker meanwhile: use it if it is over the
		// same snapshot, so that concurrent calls share one rotation.
		if old = p.Load(); old != nil && sameSlice(old.nodes, nodes) {
			return old.picker
		}
	}
	return e.picker
}

func sameSlice(a, b []*registry.Node) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
