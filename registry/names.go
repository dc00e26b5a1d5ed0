package registry

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Names gives each node of a Static registry whose address names a host,
// rather than an IP address, one node for every address the name resolves
// to, and looks the names up again when told to (Run: every refresh).
//
// Why it exists: a name such as a Compose service's or a Kubernetes
// headless service's stands for every replica behind it. Dialled as one
// node, the replicas would share one ejection, one breaker, one concurrency
// limit and one latency, a retry "to another node" would have none to go
// to, and one replica's crash would eject them all, so that the gateway's
// promise (one failing node costs one request, never the service) would not
// hold for them. Envoy's strict-DNS clusters do the same.
//
// A name resolves to its IPv4 addresses, or to its IPv6 ones when it has no
// IPv4 address (Envoy's V4_PREFERRED): a name such as localhost, listed with
// both, stays one node a family, not two of which one refuses. A lookup that
// fails or finds no address keeps the name's last good addresses (a DNS
// outage does not empty a service); a name that never resolved gives no node
// until it does. A node whose address is an IP address passes as it is.
//
// The nodes made from a name keep its entry's ID, version, datacenter and
// metadata; their Address is the resolved address and port, so their Key
// (and with it their ejection, breaker and pool) is per address and
// survives every lookup that still finds that address.
type Names struct {
	st       *Static
	lookup   func(ctx context.Context, network, host string) ([]netip.Addr, error)
	timeout  time.Duration
	onChange func(host string, addrs []netip.Addr, err error)

	mu    sync.Mutex
	want  map[string][]*Node      // the configured nodes, by service
	addrs map[string][]netip.Addr // each name's last good addresses
	fails map[string]string       // each failing name's last error, so that a change is told once
}

// Resolver looks host names up. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// NamesOptions configures NewNames. The zero value is usable.
type NamesOptions struct {
	// Resolver looks the names up; nil means net.DefaultResolver, the
	// system's (/etc/hosts, then the servers of /etc/resolv.conf).
	Resolver Resolver
	// Timeout bounds one lookup; zero means DefaultLookupTimeout.
	Timeout time.Duration
	// OnChange, when not nil, is told when a name's addresses change (err
	// nil) and when its lookups start failing or fail differently (addrs
	// then the addresses kept), not at every lookup.
	OnChange func(host string, addrs []netip.Addr, err error)
}

// DefaultDNSRefresh is how often the gateway looks the names of its static
// nodes up again when registry.dns_refresh is not set: Envoy's default
// refresh of a strict-DNS cluster.
const DefaultDNSRefresh = 5 * time.Second

// DefaultLookupTimeout bounds one lookup of a name when
// NamesOptions.Timeout is zero.
const DefaultLookupTimeout = 2 * time.Second

// NewNames returns Names that sets the nodes of st.
func NewNames(st *Static, o NamesOptions) *Names {
	r := o.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultLookupTimeout
	}
	return &Names{st: st, lookup: r.LookupNetIP, timeout: o.Timeout, onChange: o.OnChange,
		want: make(map[string][]*Node), addrs: make(map[string][]netip.Addr), fails: make(map[string]string)}
}

// Set makes nodes the configured nodes of service and gives the registry
// their expansion. Names never resolved yet are looked up first, within the
// lookup timeout (so that a route to them has its nodes from its first
// request); the others keep their last addresses until the next Refresh.
// A nil or empty nodes leaves the service known with no nodes, as
// Static.Set does.
func (n *Names) Set(ctx context.Context, service string, nodes []*Node) {
	n.SetAll(ctx, map[string][]*Node{service: nodes})
}

// SetAll is Set for several services at once, as a configuration gives
// them: the names none of them resolved yet are looked up together, so
// that a start or a reload waits one lookup timeout at most, however many
// services list names while the DNS servers do not answer.
func (n *Names) SetAll(ctx context.Context, services map[string][]*Node) {
	n.mu.Lock()
	var fresh []string
	for _, nodes := range services {
		for _, host := range hostNames(nodes) {
			if _, ok := n.addrs[host]; !ok && !slices.Contains(fresh, host) {
				fresh = append(fresh, host)
			}
		}
	}
	n.mu.Unlock()
	results := n.resolve(ctx, fresh)

	n.mu.Lock()
	defer n.mu.Unlock()
	n.applyLocked(results)
	for service, nodes := range services {
		if len(nodes) == 0 {
			delete(n.want, service)
		} else {
			n.want[service] = slices.Clone(nodes)
		}
		n.st.Set(service, n.expandLocked(nodes))
	}
}

// Refresh looks every configured name up again and gives the registry the
// nodes of each service whose addresses changed.
func (n *Names) Refresh(ctx context.Context) {
	n.mu.Lock()
	var all []string
	for _, nodes := range n.want {
		all = append(all, hostNames(nodes)...)
	}
	n.mu.Unlock()
	slices.Sort(all)
	results := n.resolve(ctx, slices.Compact(all))

	n.mu.Lock()
	defer n.mu.Unlock()
	// A reload may have listed names, or dropped some, while the lookups
	// ran: the names listed now are the ones kept, so that a name set
	// meanwhile keeps the addresses Set found (else its next failing
	// lookup found none to keep) and a dropped one is not told of.
	listed := make(map[string]bool, len(n.addrs))
	for _, nodes := range n.want {
		for _, host := range hostNames(nodes) {
			listed[host] = true
		}
	}
	before := make(map[string][]netip.Addr, len(n.addrs))
	for host, a := range n.addrs {
		before[host] = a
	}
	for host := range results {
		if !listed[host] {
			delete(results, host)
		}
	}
	n.applyLocked(results)
	for service, nodes := range n.want {
		for _, host := range hostNames(nodes) {
			if !slices.Equal(before[host], n.addrs[host]) {
				n.st.Set(service, n.expandLocked(nodes))
				break
			}
		}
	}
	for host := range n.addrs { // names no service lists any more
		if !listed[host] {
			delete(n.addrs, host)
		}
	}
	for host := range n.fails {
		if !listed[host] {
			delete(n.fails, host)
		}
	}
}

// Run calls Refresh every interval until ctx ends.
func (n *Names) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.Refresh(ctx)
		}
	}
}

// lookupResult is one name's answer: its addresses of one family, sorted,
// or the error.
type lookupResult struct {
	addrs []netip.Addr
	err   error
}

// resolve looks hosts up at once, each within the timeout.
func (n *Names) resolve(ctx context.Context, hosts []string) map[string]lookupResult {
	out := make(map[string]lookupResult, len(hosts))
	if len(hosts) == 0 {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, host := range hosts {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, n.timeout)
			defer cancel()
			addrs, err := n.lookup(lctx, "ip", host)
			addrs = oneFamily(addrs)
			if err == nil && len(addrs) == 0 {
				err = &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
			}
			mu.Lock()
			out[host] = lookupResult{addrs, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// applyLocked keeps each good answer and tells the changes.
func (n *Names) applyLocked(results map[string]lookupResult) {
	for host, r := range results {
		if r.err != nil {
			if n.fails[host] != r.err.Error() {
				n.fails[host] = r.err.Error()
				n.tell(host, n.addrs[host], r.err)
			}
			continue
		}
		old, known := n.addrs[host]
		_, failing := n.fails[host]
		delete(n.fails, host)
		n.addrs[host] = r.addrs
		if !known || failing || !slices.Equal(old, r.addrs) {
			n.tell(host, r.addrs, nil)
		}
	}
}

func (n *Names) tell(host string, addrs []netip.Addr, err error) {
	if n.onChange != nil {
		n.onChange(host, slices.Clone(addrs), err)
	}
}

// expandLocked returns nodes with each node of a name replaced by one node
// an address, in the order of the names' addresses; an address two entries
// give is one node, the first's.
func (n *Names) expandLocked(nodes []*Node) []*Node {
	out := make([]*Node, 0, len(nodes))
	seen := make(map[string]bool, len(nodes))
	add := func(node *Node) {
		if !seen[node.Address] {
			seen[node.Address] = true
			out = append(out, node)
		}
	}
	for _, node := range nodes {
		host, port, ok := nameOf(node)
		if !ok {
			add(node)
			continue
		}
		for _, a := range n.addrs[host] {
			cp := *node
			cp.Address = net.JoinHostPort(a.String(), port)
			add(&cp)
		}
	}
	return out
}

// hostNames returns the host names the nodes' addresses name.
func hostNames(nodes []*Node) []string {
	var out []string
	for _, node := range nodes {
		if host, _, ok := nameOf(node); ok {
			out = append(out, host)
		}
	}
	return out
}

// nameOf returns the host and port of node's address when the host is a
// name, not an IP address.
func nameOf(node *Node) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(node.Address)
	if err != nil || host == "" {
		return "", "", false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return "", "", false
	}
	return host, port, true
}

// oneFamily returns the IPv4 addresses of addrs, or its IPv6 ones when it
// has no IPv4 address, unmapped, sorted and without repeats.
func oneFamily(addrs []netip.Addr) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			v4 = append(v4, a)
		} else if a.IsValid() {
			v6 = append(v6, a)
		}
	}
	out := v4
	if len(out) == 0 {
		out = v6
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
