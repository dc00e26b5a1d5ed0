package router_test

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/proxytest"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// FuzzProxiedAnswer fuzzes the router's transparency to answers
// (internal/proxytest): whatever well-formed answer a backend sends, the
// client gets its status, each end-to-end field with its values in order,
// its body and the trailers that may cross, and nothing else but a Date and
// the framing; through upstream's h1 transport, package server and
// net/http's server over HTTP/1.1 and h2c. Bugs of that kind it holds
// fixed: a Content-Type sniffed for an untyped answer, trailers the
// listener servers filtered differently, and under net/http's HTTP/2
// server a 204 or 304 with a Content-Length, trailers or a stream's empty
// write. An answer http.ReadResponse refuses tests no transparency and is
// skipped (FuzzResponse and FuzzParseResponse hold h1's reading to
// ReadResponse's).
func FuzzProxiedAnswer(f *testing.F) {
	proxytest.FuzzAnswers(f, func(node string) http.Handler { return newTransparentRouter(f, node, "GET") }, nil)
}

// newTransparentRouter returns a router with one route of method to /t on
// node, through the gateway's own transport (h1), with no policy that
// would answer for the backend: no retry, breaker, ejection or limit.
func newTransparentRouter(tb testing.TB, node, method string) *router.Router {
	reg, err := registry.NewStatic(&registry.Node{Service: "svc", Address: node})
	if err != nil {
		tb.Fatal(err)
	}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	tb.Cleanup(tr.CloseIdleConnections)
	client := upstream.New(reg, upstream.WithTransport(tr), upstream.WithMaxRetries(0),
		upstream.WithBreakers(nil), upstream.WithEjector(nil), upstream.WithLimits(nil))
	rt, err := router.New([]router.Route{{Method: method, Path: "/t", Service: "svc", Budget: policy}}, client, router.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}
