// Package consul implements registry.Registry over a Consul agent's HTTP API.
//
// Lookup and Watch read the health endpoint with passing-only filtering, so a node
// is visible only while every check on it passes; Watch is a Consul blocking query.
// Register records a service instance with the local agent together with a TTL
// check; Announce does the same and then keeps the check passing with heartbeats
// until the Announcement stops, re-registering when the agent has forgotten the
// service (as a restarted agent does).
//
// How a Consul service entry maps to a registry.Node:
//
//	Node field  Consul source
//	ID          Service.ID
//	Service     Service.Service
//	Address     Service.Address (Node.Address when empty) + ":" + Service.Port
//	Version     Service.Meta["version"], else a tag "version=X"
//	Datacenter  Node.Datacenter
//	Metadata    Service.Meta, plus each tag: "k=v" as k:v, a bare tag as tag:""
//
// The Registry talks to Consul through two small interfaces, Health and Agent, that
// *api.Health and *api.Agent satisfy; tests swap them for fakes. Package consultest
// runs a real Consul agent for integration tests.
package consul
