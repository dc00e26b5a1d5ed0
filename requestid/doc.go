// Package requestid names a request across every hop it takes: the gateway
// accepts a trusted X-Request-Id or makes one, each hop reads it from its
// context (FromContext) and the upstream client sends it on every attempt,
// so that one id finds a request in the access logs, the problem bodies
// and the traces of every service it touched.
//
// It sits at the bottom of Sluice's layers, beside budget, and depends on
// nothing: the problem bodies, the budget middleware, the client and the
// gateway's middleware all read the one definition of the field and of a
// valid id.
package requestid
