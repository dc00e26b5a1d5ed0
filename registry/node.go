package registry

import (
	"errors"
	"net"
	"strconv"
)

// Node is one running instance of a service.
//
// A Node is immutable once a registry has returned it; strategies, breakers and
// ejection state key their memory by Key, which stays the same across discovery
// refreshes for as long as the instance keeps its ID and address.
type Node struct {
	// ID identifies the instance within its service. When empty, Address is used.
	ID string
	// Service is the name of the service the node belongs to.
	Service string
	// Address is the host:port the node serves HTTP on.
	Address string
	// Version is the node's release, compared as semantic versioning by selectors.
	// Empty means unknown.
	Version string
	// Datacenter names where the node runs; empty means unknown.
	Datacenter string
	// Metadata carries free-form labels (Consul tags and Meta). It may be nil.
	Metadata map[string]string
}

// Key returns the node's identity: service, ID (or address) and address.
func (n *Node) Key() string {
	id := n.ID
	if id == "" {
		id = n.Address
	}
	return n.Service + "/" + id + "@" + n.Address
}

// String returns a short human-readable form of the node, for logs.
func (n *Node) String() string { return n.Key() }

// Snapshot is the node set of one service at one point in its history.
// Index grows whenever Nodes change; a zero Index means "no history".
type Snapshot struct {
	Nodes []*Node
	Index uint64
}

// Errors returned by registries.
var (
	// ErrNotFound reports a service the registry knows nothing about.
	ErrNotFound = errors.New("registry: service not found")
	// ErrInvalidNode reports a Node that lacks a service name or a usable address.
	ErrInvalidNode = errors.New("registry: invalid node")
)

// Validate checks that the node has a service name and a host:port address.
func (n *Node) Validate() error {
	if n.Service == "" {
		return &nodeError{n.Address, "no service name"}
	}
	host, port, err := net.SplitHostPort(n.Address)
	if err != nil || host == "" {
		return &nodeError{n.Address, "address must be host:port, an IPv6 host in brackets"}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return &nodeError{n.Address, "port must be 1-65535"}
	}
	return nil
}

type nodeError struct{ addr, why string }

func (e *nodeError) Error() string {
	return "registry: invalid node " + strconv.Quote(e.addr) + ": " + e.why
}
func (e *nodeError) Unwrap() error { return ErrInvalidNode }

// MetaInstance is the metadata key with which a process that announces
// itself marks each start: a value of its own, new every time it starts.
// A registration keeps its ID across a restart (Consul's defaults to the
// address), so without the mark a node that crashed and came back before
// its health check failed would look like the one that crashed, and carry
// that one's ejection and failure penalty. With it, it is a new instance:
// the caller's old connections to it are closed and its first call is a
// probe.
const MetaInstance = "sluice-instance"

// Same reports whether n and o are the same instance: the same service, ID
// and address, and the same MetaInstance mark (or none), whichever snapshot
// each came from.
func (n *Node) Same(o *Node) bool {
	return n == o || (n.Service == o.Service && n.ID == o.ID && n.Address == o.Address &&
		n.Metadata[MetaInstance] == o.Metadata[MetaInstance])
}
