// Package middleware holds the gateway's server-side middleware, each of the
// standard shape func(http.Handler) http.Handler, and Chain to compose them.
//
// Recorder, installed by AccessLog as the outermost layer, remembers when a
// request started to arrive, so that the router charges the budget from that
// moment, and which status was answered, so that the access log can say it.
package middleware
