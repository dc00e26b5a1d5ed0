package registry

import (
	"context"
	"time"
)

// Registry finds the nodes of services and records the nodes of this process.
// Implementations are safe for concurrent use.
type Registry interface {
	// Lookup returns the current nodes of service, healthy ones only. It returns
	// ErrNotFound when the registry has never heard of the service, and an empty
	// slice when the service exists but has no healthy node.
	Lookup(ctx context.Context, service string) ([]*Node, error)

	// Watch blocks until the node set of service differs from the one that index
	// named, then returns the new set and its index. An index of zero returns at
	// once. Watch returns ctx.Err() when ctx ends first; it may also return early
	// with an unchanged snapshot (as Consul's blocking queries do on their own
	// timeout), so callers compare indexes.
	Watch(ctx context.Context, service string, index uint64) (Snapshot, error)

	// Register announces a node of this process. Registering the same ID again
	// replaces the earlier registration.
	Register(ctx context.Context, r Registration) error

	// Deregister withdraws a node that Register announced.
	Deregister(ctx context.Context, service, id string) error
}

// Registration is what a process announces about one of its nodes.
type Registration struct {
	Node

	// TTL is the health check's time to live: the registry marks the node
	// critical when no heartbeat arrives for this long. Zero means DefaultTTL.
	TTL time.Duration

	// DeregisterCriticalAfter removes a node that has been critical for this
	// long from the catalog, so crashed processes do not linger. Zero means
	// DefaultDeregisterCriticalAfter.
	DeregisterCriticalAfter time.Duration
}

// Defaults that keep registrations safe without configuration.
const (
	DefaultTTL                     = 10 * time.Second
	DefaultDeregisterCriticalAfter = time.Minute
)

// WithDefaults returns r with zero durations replaced by the defaults.
func (r Registration) WithDefaults() Registration {
	if r.TTL <= 0 {
		r.TTL = DefaultTTL
	}
	if r.DeregisterCriticalAfter <= 0 {
		r.DeregisterCriticalAfter = DefaultDeregisterCriticalAfter
	}
	return r
}
