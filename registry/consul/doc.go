// Package consul implements registry.Registry over a Consul agent's HTTP API.
//
// Lookup and Watch read the health endpoint with passing-only filtering, so a node
// is visible only while every check on it passes; Watch is a Consul blocking query
// (past MaxBlockingQueries services, the shared watch described below).
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
// Consul's answers are another process's input, and an entry no dial should
// reach is skipped: one without a port in 1-65535, or whose host is
// unspecified (0.0.0.0, ::, which would reach the gateway's own host), not a
// plain name or IP address (carrying its own port, a URL, a newline), or has
// an IPv6 zone that is not a plain interface name. An instance listed twice
// with one ID and address (registered from two Consul nodes) is one node.
// The service name goes into the request's path, and Consul's server
// redirects a path with dot segments or doubled slashes to another
// endpoint: Lookup and Watch refuse such names (ErrServiceName). Register
// refuses such a name too, a host no gateway would dial, and a service ID
// that the agent's paths cannot name.
//
// Reads are stale reads (AllowStale): any Consul server answers them from its
// own copy of the catalog, so discovery goes on while a cluster elects a new
// leader (seconds; over ten with Consul's default raft_multiplier), where a
// default-consistency read fails with 500 "No cluster leader", and the
// leader does not serve every gateway's blocking queries alone. A follower's
// copy lags the leader's by its replication delay, usually milliseconds: a
// node's health change reaches gateways that much later, which the TTL check
// and outlier ejection already tolerate. Register, Heartbeat and Deregister go
// to the local agent, which keeps them without a leader and syncs them to the
// servers by anti-entropy once there is one.
//
// A blocking query holds an HTTP connection to the agent while it waits, and
// an agent refuses more than limits.http_max_conns_per_client (200 by
// default) from one address: a Registry made by New holds blocking queries
// of their own for at most MaxBlockingQueries services, and watches the
// others through one shared watch, a blocking query on each of three
// endpoints whose indexes move with every change of the catalog, followed
// by a non-blocking query of each of those services that the change may
// concern (see MaxBlockingQueries). Its connections to the agent are thus
// bounded, however many services it watches.
//
// The shared watch asks Consul about a service again only when a change
// may concern it, since every gateway asks on every change: with each
// change asking about every service on it, 500 services and 20 gateways
// would cost Consul's servers 10,000 queries for one check that flapped
// anywhere in the datacenter (measured with 300 services: 285 health
// queries, 427 KB, per flap of one check; now 2, and 138 KB, mostly the
// checks' answer). Its query on checks answers with the checks themselves,
// and a service whose checks, or whose nodes' checks, changed is asked
// about again, and no other (see checkWatch). A change of the services or
// nodes tables, whose answers cannot say which service changed (a
// registration, a deploy, a node's new address), still asks about every
// service on the shared watch. Whatever it might miss (a service query
// answered by a Consul server that lags behind the one that answered about
// the checks), the wait time repairs: a Watch on the shared watch returns
// then, and the next one asks at once, which costs one query per service
// and wait time (a minute by default), as a blocking query of its own does.
//
// That answer is bounded by what the gateway watches, not by the
// datacenter: it holds the checks of the watched services and the node
// checks of the nodes their instances are on, not every node check of the
// datacenter. The nodes are those of every instance, passing or not: the
// shared watch's queries of its services ask for every instance, and keep
// those whose every check passes, as Consul's passing filter does. Measured
// with 500 nodes, each with a node check, and 20 services on the shared
// watch, each on a node of its own: 233 KB per change anywhere with every
// node check, 17 KB now, and 22 KB with the 2 queries of a change of a
// watched service; a round of the 20 services is 41 KB. Past 6 KiB of
// filter, the answer holds every node check, then every check; when the
// checks in it that are neither the watched services' nor their nodes'
// outnumber the watched services, it costs more than asking about every
// service would, and the query on checks becomes a probe like the
// catalog's (an index and an empty body; every service asked about on each
// move, 41 to 43 KB per change in the same datacenter) for ten minutes, or
// until the watched services have doubled, then reads the checks again
// (see checkWatch). The probe is the shared watch's first design, the
// switch compares the answer it switches on, and switching back asks about
// every service: no change is seen later than by either design. So a
// change costs at most about a round of the services' queries, plus, while
// it probes, one answer of the checks and a round every ten minutes and
// each time the watched services double.
//
// The Registry talks to Consul through small interfaces, Health, Agent and
// Raw (the shared watch's queries), that *api.Health, *api.Agent and
// *api.Raw satisfy; tests swap them for fakes. Package consultest
// runs a real Consul agent for integration tests.
package consul
