package upstream

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
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
)

// Client calls named services. It is safe for concurrent use; make one per
// process and share it, since it holds connection pools and picker state.
type Client struct {
	disc       Discoverer
	strategy   selector.Strategy
	transport  http.RoundTripper
	margin     time.Duration
	timeout    time.Duration
	maxRetries int
	now        func() time.Time

	pickers sync.Map // service name → *atomic.Pointer[pickerEntry]
}

// Option configures a Client.
type Option func(*Client)

// WithStrategy sets how nodes are selected. The default is round robin.
func WithStrategy(s selector.Strategy) Option { return func(c *Client) { c.strategy = s } }

// WithTransport sets the transport attempts go through. The default is
// NewTransport().
func WithTransport(t http.RoundTripper) Option { return func(c *Client) { c.transport = t } }

// WithMargin sets the per-hop margin subtracted from the budget sent with
// each attempt, to cover the time the answer takes to come back.
func WithMargin(d time.Duration) Option { return func(c *Client) { c.margin = d } }

// WithDefaultTimeout sets the budget of calls whose context has no deadline.
func WithDefaultTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxRetries bounds the retries of one call; zero disables retries.
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = n } }

// WithClock sets the clock the client reads the budget with. Tests use it.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client that finds nodes through d.
func New(d Discoverer, opts ...Option) *Client {
	c := &Client{
		disc:       d,
		strategy:   selector.RoundRobin,
		margin:     DefaultMargin,
		timeout:    DefaultTimeout,
		maxRetries: DefaultMaxRetries,
		now:        time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	if c.transport == nil {
		c.transport = NewTransport()
	}
	return c
}

// NewTransport returns the HTTP/1.1 transport a Client uses by default: keep-
// alive pools sized for a gateway's concurrency, with no timeouts of its own,
// since every wait is bounded by the call's context.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

type pickerEntry struct {
	nodes  []*registry.Node
	picker selector.Picker
}

// picker returns the picker for nodes, building it when the snapshot changed.
func (c *Client) picker(service string, nodes []*registry.Node) selector.Picker {
	v, ok := c.pickers.Load(service)
	if !ok {
		v, _ = c.pickers.LoadOrStore(service, new(atomic.Pointer[pickerEntry]))
	}
	p := v.(*atomic.Pointer[pickerEntry])
	old := p.Load()
	if old != nil && sameSlice(old.nodes, nodes) {
		return old.picker
	}
	e := &pickerEntry{nodes: nodes, picker: c.strategy(nodes)}
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
