// Package router maps each request that reaches the gateway to a route, and
// serves it: it originates the request's budget from the route's policy, then
// forwards the request to the route's service, either as an RPC call
// (Service.Method, with path parameters and the query merged into the JSON
// request) or as plain HTTP with an optional path-prefix rewrite.
//
// Matching is chi's and is deterministic: static segments win over
// parameters, parameters over catch-alls, whatever the order of declaration.
// Two routes that could match the same requests are an error at load time.
//
// CORS preflights are answered here, on every path where a route has a
// Preflight, by the route of the method they ask about (preflight.go): a
// browser sends them to a method and path that may have no OPTIONS route,
// and they must never reach a backend.
package router
