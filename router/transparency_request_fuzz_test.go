package router_test

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/proxytest"
	"github.com/sluicehq/sluice/router"
)

// FuzzForwardedRequest fuzzes the router's transparency to requests
// (internal/proxytest), as FuzzProxiedAnswer fuzzes its answers': whatever
// well-formed request a client sends, the backend gets its method, target
// and Host, each of its end-to-end fields with its values in their order,
// its body byte for byte and the declared trailers that may cross, plus the
// fields the gateway adds for the hop (X-Forwarded-For with the client's
// address appended, X-Forwarded-Host and -Proto of its own, the budget) and
// nothing else. Left out: hop-by-hop fields, those the client's Connection
// field names, Expect (the gateway answers it), and the client's
// X-Forwarded-Host and -Proto. The request is sent as HTTP/1.1 bytes to
// the HTTP/1.1 edges and as HTTP/2 frames to the h2c one. It found the
// User-Agent Go's writers sent for a client that sent none, and the
// declared trailers of an HTTP/2 DELETE with an empty body, which
// net/http's writer sent without a body, the trailers lost.
func FuzzForwardedRequest(f *testing.F) {
	if proxytest.LargeBody <= router.MaxReplayBody {
		f.Fatalf("proxytest.LargeBody %d: no body past router.MaxReplayBody %d, none streamed", proxytest.LargeBody, router.MaxReplayBody)
	}
	proxytest.FuzzRequests(f, func(backend string) http.Handler { return newTransparentRouter(f, backend, "*") }, nil, nil)
}
