package main

import (
	"net/http"
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
	// The request id, and on a 5xx Sluice-Retry ("no": this layer retried,
	// the callers above need not; docs/budget.md).
	added := func(k string) bool { return k == "X-Request-Id" || k == upstream.RetryHeader }
	proxytest.FuzzAnswers(f, func(node string) http.Handler {
		cfg, _ := loadFile(f, configText(node, "  - {method: GET, path: /t, service: svc}\n")+
			"upstream: {breaker: {disabled: true}, ejection: {disabled: true}, concurrency_limit: {disabled: true}}\n")
		logger, _ := newLogger()
		g, err := newGateway(cfg, logger)
		if err != nil {
			f.Fatal(err)
		}
		return g.handler()
	}, added)
}
