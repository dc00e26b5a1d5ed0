package upstream

import (
	"crypto/tls"
	"sync/atomic"

	"github.com/sluicehq/sluice/registry"
)

// service is what a Client keeps about one service: its retry budget, its
// breaker, its latency estimate, the last snapshot of its nodes and the
// picker over them. A call finds it with one lookup by the service's name
// and reads each of these from it, where it took one map lookup each.
type service struct {
	budget  *RetryBudget // nil without a retry budget
	breaker *breaker     // nil without breakers
	tls     *tls.Config  // WithServiceTLS's; nil: plain HTTP
	latency latency
	// picker is the picker over the nodes the last call could pick from;
	// discovered the last snapshot discovery gave (see noteSnapshot).
	picker     atomic.Pointer[pickerEntry]
	discovered atomic.Pointer[[]*registry.Node]
}

// service returns what the client keeps about the service named name,
// making it at the first call.
func (c *Client) service(name string) *service {
	if s, ok := c.services.Load(name); ok {
		return s
	}
	s := &service{budget: c.budgets.get(name), tls: c.tlsConfigs[name]}
	if c.breakers != nil {
		s.breaker = c.breakers.get(name)
	}
	s, _ = c.services.LoadOrStore(name, s)
	return s
}

// nodes returns the nodes of the last snapshot discovery gave, nil before
// the first.
func (s *service) nodes() []*registry.Node {
	if p := s.discovered.Load(); p != nil {
		return *p
	}
	return nil
}
