package registry

import (
	"context"
	"sync"
)

// Static is a registry held in memory: the embedded default, fed from
// configuration, and the fake that tests use. Set, Register and Deregister change
// it at run time and wake its watchers. The zero value is not usable; call
// NewStatic. Static is safe for concurrent use.
type Static struct {
	mu       sync.Mutex
	services map[string]*staticService
	index    uint64
}

type staticService struct {
	snap    Snapshot
	changed chan struct{} // closed and replaced on every change
}

var _ Registry = (*Static)(nil)

// NewStatic returns a registry holding the given nodes, grouped by their Service.
// It returns an error naming the first node that fails Validate.
func NewStatic(nodes ...*Node) (*Static, error) {
	s := &Static{services: make(map[string]*staticService)}
	groups := make(map[string][]*Node)
	var order []string
	for _, n := range nodes {
		if err := n.Validate(); err != nil {
			return nil, err
		}
		if _, ok := groups[n.Service]; !ok {
			order = append(order, n.Service)
		}
		groups[n.Service] = append(groups[n.Service], n)
	}
	for _, name := range order {
		s.setLocked(name, groups[name])
	}
	return s, nil
}

// Set replaces the nodes of service. A nil or empty slice keeps the service known
// with no nodes. Set keeps its own copy of the slice.
func (s *Static) Set(service string, nodes []*Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(service, nodes)
}

func (s *Static) setLocked(service string, nodes []*Node) {
	s.index++
	cp := make([]*Node, len(nodes))
	copy(cp, nodes)
	svc := s.services[service]
	if svc == nil {
		svc = &staticService{changed: make(chan struct{})}
		s.services[service] = svc
	} else {
		close(svc.changed)
		svc.changed = make(chan struct{})
	}
	svc.snap = Snapshot{Nodes: cp, Index: s.index}
}

// Lookup implements Registry. The returned slice is shared and must not be
// modified; it stays the same slice until the service changes.
func (s *Static) Lookup(_ context.Context, service string) ([]*Node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.services[service]
	if svc == nil {
		return nil, ErrNotFound
	}
	return svc.snap.Nodes, nil
}

// Watch implements Registry.
func (s *Static) Watch(ctx context.Context, service string, index uint64) (Snapshot, error) {
	for {
		s.mu.Lock()
		svc := s.services[service]
		if svc == nil {
			// Unknown services may appear later through Set or Register.
			s.setLocked(service, nil)
			svc = s.services[service]
		}
		snap, changed := svc.snap, svc.changed
		s.mu.Unlock()
		if index == 0 || snap.Index != index {
			return snap, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
	}
}

// Register implements Registry: it adds the node, replacing one with the same ID.
func (s *Static) Register(_ context.Context, r Registration) error {
	if err := r.Node.Validate(); err != nil {
		return err
	}
	n := r.Node
	s.mu.Lock()
	defer s.mu.Unlock()
	var nodes []*Node
	if svc := s.services[n.Service]; svc != nil {
		for _, old := range svc.snap.Nodes {
			if nodeID(old) != nodeID(&n) {
				nodes = append(nodes, old)
			}
		}
	}
	s.setLocked(n.Service, append(nodes, &n))
	return nil
}

// Deregister implements Registry. Deregistering an unknown node is not an error.
func (s *Static) Deregister(_ context.Context, service, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.services[service]
	if svc == nil {
		return nil
	}
	var nodes []*Node
	for _, old := range svc.snap.Nodes {
		if nodeID(old) != id {
			nodes = append(nodes, old)
		}
	}
	if len(nodes) != len(svc.snap.Nodes) {
		s.setLocked(service, nodes)
	}
	return nil
}

func nodeID(n *Node) string {
	if n.ID != "" {
		return n.ID
	}
	return n.Address
}
