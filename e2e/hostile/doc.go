// Package hostile is the gateway's hostile-input suite: raw sockets against
// the real gateway binary, on both listener servers ("sluice", the default,
// and "net/http"), with backends that misbehave on purpose.
//
// It exists because an edge gateway is judged by what it does with input
// nobody should send: smuggling attempts, oversized or malformed headers,
// path traversal through rewrites, backends that answer wrongly or twice,
// clients that stall or leave. Each case states a property a safe gateway
// keeps (the gateway and the backend agree on where each request ends; no
// client ever gets another request's answer; a broken answer never looks
// complete; a client's fault never counts against a service), and the suite
// checks it against each server. Grow it with every bug found.
//
// Run it with
//
//	go test -race ./e2e/hostile/
//
// It builds cmd/gateway once, starts one gateway process per listener
// server with the suite's own configuration (short route budgets, one
// service per case where a case's faults could touch another's breaker),
// and prints one summary line per server at the end, with the cases that
// failed (go test shows it with -v, or when the suite fails).
//
// Each case encodes the behaviour the gateway must have, not the behaviour
// it has: a case fails until the bug it describes is fixed. The families
// are in smuggle_test.go (request framing), limits_test.go (header and URI
// sizes), paths_test.go (dot-segments through rewrites), upstream_test.go
// (broken and unsolicited answers from a raw backend), slow_test.go (slow
// and stalled clients), breaker_test.go (client faults vs breakers),
// misc_test.go (HEAD, claim headers, the listeners' own errors) and
// compress_test.go (hostile Accept-Encoding fields, compressed requests).
// The audits' cases, which need routes of their own, run on gateways of
// their own: audit_gateway_test.go (a route's policies spelled around:
// escaped letters, Connection options, method overrides, trailers; what a
// 5xx tells of the network), audit_backend_test.go (answers with no
// HTTP status, or a 101 nobody asked for), audit_upgrade_test.go
// (handshakes a backend does not switch, HTTP/1.0 ones, CONNECT, tunnels'
// bounds and half-closes, shutdown with a tunnel open), audit_limits_test.go (rate
// limit keys sent twice, compressed answers a digest or a 304 vouches for),
// pertry_test.go (uploads stalled past a per-try timeout), hop_audit_test.go
// (a backend's Connection field naming fields for its hop, with close, to
// small requests and to uploads the transport's fallback carries),
// bigheader_audit_test.go (answer headers over the backend bound, 1xx
// included), poison_test.go (one client sending a request every node
// fails, which must not open the breaker for the others nor eject nodes),
// trace_audit_test.go (a client's trace context in every format a backend
// may read, on each route kind, tracing on and off) and h2_audit_test.go
// (HTTP/2 raw frames, on an h2c listener and on a TLS one: rapid reset,
// CONTINUATION floods, stream limits, frame sizes, header blocks that
// never end, clients that grant no window or never read, slow bodies,
// trailers, connection fields, pseudo-headers, lengths, header lists,
// cookie crumbs, one-byte CONTINUATION frames, dynamic tables past the
// bound: h2_fields_audit_test.go), h2_share_audit_test.go (one client
// address's HTTP/2 streams, 100 a connection, held by a node for their
// budget: they must leave another client room on the node's 256
// connections),
// and connlimit_audit_test.go (one client address opening more
// connections than the gateway has descriptors, on a gateway whose
// descriptor limit is lowered: the bound of client connections, and dials
// to nodes that fail for want of a descriptor, which are no node's fault;
// and WebSockets from many addresses, each tunnel holding its node's
// connection too)
// and headbudget_audit_test.go (clients sending large request heads slowly,
// on each listener server and over TLS: the large heads share a budget,
// past which a large head is answered 431 and small ones are served)
// and bodybudget_audit_test.go (clients sending most of a request body the
// gateway holds for a retry, then stalling: the held bodies share a
// budget, past which an HTTP route streams a body and an RPC route
// answers 503; over HTTP/1 and on HTTP/2 streams, where a refusal ends its
// stream and not its connection) and memlimit_audit_test.go (2,500 such clients against a
// gateway in a memory cgroup of 384 MiB, which must not be killed: the
// gateway sets the runtime's memory limit from its container's; the audit
// needs root and a memory controller, and is skipped without them)
// and unreachable_audit_test.go (one node of four whose connect hangs,
// refuses, resets, never answers, or is down at start and comes back:
// every request answered, no retry to it, the breaker closed) and
// deps_audit_test.go (the gateway's own dependencies blackholed: the trace
// receiver, the JWKS endpoint with made-up key ids, Redis, Consul: the
// requests go on as before, and the gateway still stops),
// method_audit_test.go (TRACE and CONNECT on a route of every method: no
// backend echoes a request or opens a tunnel), adminhost_audit_test.go
// (a page rebinding its name to the admin listener reads nothing) and
// maxbody_audit_test.go (bodies over a route's max_body_bytes, declared or
// chunked, held or streamed: 413 read by the client still sending, and the
// node never blamed), hosts_audit_test.go (routes by host: the host HTTP
// says, absolute-form over Host, on both listener servers) and
// allowfrom_audit_test.go (a route's allow_from: a forged X-Forwarded-For,
// with or without the trusted proxy, gets 403 and never reaches the node)
// and tls_audit_test.go (one hostile node of four of a service reached
// over TLS: an expired certificate, another authority, plain HTTP, a
// stalled handshake, garbage after the handshake: what was sent nothing
// goes to another node, POSTs too, and no POST is sent twice).
package hostile
