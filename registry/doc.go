// Package registry defines how Sluice finds the nodes of a named service and how a
// service announces itself.
//
// The Registry interface is shaped after Consul's blocking queries: Watch returns the
// current node set of a service together with an index, and blocks while the set is
// unchanged since the index the caller last saw. Lookup is the non-blocking form.
//
// Static is the embedded default registry, fed from configuration; it is also the fake
// that tests use, since it is a production type. The Consul registry lives in the
// registry/consul package so that this package stays free of dependencies.
// Names feeds a Static registry whose nodes are named by host names (a
// Compose or Kubernetes service): one node for each address a name resolves
// to, so that each replica is ejected, limited and retried away from on its
// own.
// Health filters a Static by active health checks, which a static registry
// lacks and Consul's agent has: it sits here, between the nodes a Static
// holds and the client that reads them, as a Registry, so that neither
// Static, Names nor the client changes, and a change of health wakes Watch
// as a change of nodes does. How a node is probed (HTTP) is its caller's.
//
// Node values and the slices that hold them are shared between goroutines once a
// registry has returned them: they are immutable, and callers must not modify them.
package registry
