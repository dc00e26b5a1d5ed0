// Package upstream is the companion client that the gateway and backends use
// to call named services: discover the service's nodes, select one, stamp the
// remaining budget on the attempt, send it with the caller's context, and
// retry on another node when the failure allows and the budget fits.
//
// Call speaks the RPC convention of package rpc; Do sends any HTTP request to
// a service named by its URL's host. Both share one attempt loop, in which
// each attempt's result is classified once (classify.go) for the ejector,
// the nodes' failure penalties, the service's breaker (breaker.go) and the
// retry policy; per-try timeouts (pertry.go) and hedges (hedge.go) bound
// what a hung node costs.
package upstream
