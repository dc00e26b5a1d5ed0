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
// server, and prints one summary line per server at the end.
package hostile
