package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/proxytest"
	"github.com/sluicehq/sluice/upstream"
)

// FuzzGatewayAnswer fuzzes the transparency of the gateway's whole handler
// chain (the access log, the request id, the metrics, the identity and
// trace fields, recovery, the router) to a backend's answers, as the
// router's FuzzProxiedAnswer does for the router alone: the client gets
// the backend's status, end-to-end fields, body and crossing trailers, and
// of its own only a Date, the framing, the request id and on a 5xx
// Sluice-Retry; on package
// server and on net/http's server over HTTP/1.1 and h2c. The upstream
// policies that answer for a backend (the breaker, ejection, the
// concurrency limit) are off: a fuzzed 5xx would open the breaker, and its
// 503 is the gateway's, not a transparency fault; retries keep their
// default, and retry the same answer.
func FuzzGatewayAnswer(f *testing.F) {
	proxytest.FuzzAnswers(f, func(node string) http.Handler { return transparentGateway(f, node, "GET") }, gatewayAdds)
}

// gatewayAdds reports the fields the gateway adds to a backend's answer:
// the request id, and on a 5xx Sluice-Retry ("no": this layer retried,
// the callers above need not; docs/budget.md).
func gatewayAdds(k string) bool { return k == "X-Request-Id" || k == upstream.RetryHeader }

// transparentGateway returns the handler chain of a gateway with one route
// of method to /t on node (gatewayOf).
func transparentGateway(f *testing.F, node, method string) http.Handler {
	return gatewayOf(f, node, "  - {method: \""+method+"\", path: /t, service: svc}\n")
}

// gatewayOf returns the handler chain of a gateway with the routes given
// (YAML list items) on node, with the upstream policies that answer for a
// backend off (the breaker, ejection, the concurrency limit).
func gatewayOf(f testing.TB, node, routes string) http.Handler {
	cfg, _ := loadFile(f, configText(node, routes)+
		"upstream: {breaker: {disabled: true}, ejection: {disabled: true}, concurrency_limit: {disabled: true}}\n")
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		f.Fatal(err)
	}
	return g.handler()
}

// FuzzGatewayRequest fuzzes the transparency of the gateway's whole
// handler chain to requests, as the router's FuzzForwardedRequest does for
// the router alone, with the fields the edge keeps from backends written
// out here from the docs (docs/auth.md's table, docs/tracing.md's
// formats), not from the code that strips them: a field the chain drops
// that the docs do not name, or one they name that reaches the backend,
// fails it. The client is no trusted proxy, so its X-Forwarded-For and
// X-Request-Id are replaced.
func FuzzGatewayRequest(f *testing.F) {
	dropped := func(k string) bool {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		switch {
		case slices.Contains(docsSpoofable, n), slices.Contains(docsTraceFields, n),
			strings.HasPrefix(n, "x-forwarded-"), strings.HasPrefix(n, "uberctx-"), strings.HasPrefix(n, "ot-baggage-"):
			return true
		}
		switch n {
		case "sluice-budget", "grpc-timeout", "x-request-id":
			return true
		}
		return false
	}
	added := func(k string) bool { return k == "X-Request-Id" }
	proxytest.FuzzRequests(f, func(backend string) http.Handler {
		return transparentGateway(f, backend, "*")
	}, dropped, added)
}

// docsSpoofable are the identity fields docs/auth.md says the gateway
// removes from every request, lower case.
var docsSpoofable = []string{"forwarded", "x-forwarded", "x-real-ip", "x-client-ip", "client-ip", "true-client-ip",
	"x-cluster-client-ip", "x-original-forwarded-for", "x-original-url", "x-rewrite-url",
	"x-http-method-override", "x-http-method", "x-method-override"}

// docsTraceFields are the trace context fields docs/tracing.md says the
// gateway removes by default, lower case (and the uberctx-* and
// ot-baggage-* prefixes).
var docsTraceFields = []string{"traceparent", "tracestate", "baggage", "b3", "x-b3-traceid", "x-b3-spanid",
	"x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "uber-trace-id", "jaeger-debug-id", "jaeger-baggage",
	"ot-tracer-traceid", "ot-tracer-spanid", "ot-tracer-sampled", "x-datadog-trace-id", "x-datadog-parent-id",
	"x-datadog-sampling-priority", "x-datadog-origin", "x-datadog-tags", "x-amzn-trace-id",
	"x-cloud-trace-context", "grpc-trace-bin"}
