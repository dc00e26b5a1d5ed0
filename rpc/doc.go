// Package rpc is Sluice's RPC convention over plain HTTP/1.1 and JSON, and the
// small server-side helper that Go backends use to expose handlers.
//
// An endpoint named Service.Method is served at POST /rpc/Service.Method. The
// request body is a JSON value (an object, by convention), sent with
// Content-Type: application/json; a success is 200 with a JSON body; a failure
// is an RFC 9457 problem body (application/problem+json) whose status tells
// the kind of failure. The Sluice-Budget field carries the caller's remaining
// budget. Any HTTP server in any language can serve the convention, and curl
// can call a backend directly:
//
//	curl -d '{"name":"Ada"}' -H 'Content-Type: application/json' \
//	     http://127.0.0.1:9101/rpc/Greeter.Hello
//
// docs/rpc.md specifies it.
package rpc
