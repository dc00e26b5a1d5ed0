package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestAnAddressOfANameFailingItsHealthCheckGetsNoRequests runs the gateway
// with a static node named by a host name that a real DNS server on
// loopback resolves to three replicas, and a health_check on its service.
// The replica whose /healthz answers 503 while its API still answers (up
// but broken) is checked as the node of its address alone: it gets no
// request while the other two share them, it stays out when a DNS refresh
// drops another address and keeps its own, and it is served again once it
// passes.
func TestAnAddressOfANameFailingItsHealthCheckGetsNoRequests(t *testing.T) {
	ns := startNameServer(t)
	ns.set("127.0.0.1", "127.0.0.2", "127.0.0.3")
	var broken atomic.Bool
	broken.Store(true)
	port, _ := startReplicasWith(t, func(a string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				if a == "127.0.0.2" && broken.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				return
			}
			io.WriteString(w, a)
		})
	}, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	brokenNode := fmt.Sprintf("127.0.0.2:%d", port)

	gw, url := startWhoGateway(t, ns, port, `services:
  who:
    health_check: {path: /healthz, interval: 20ms}
`)
	served := func(n int) map[string]int { t.Helper(); return servedBy(t, url, n) }
	nodeIs := func(msg, node string) func(map[string]any) bool {
		return func(l map[string]any) bool { return hasMsg(msg)(l) && l["node"] == node }
	}

	gw.waitLog(nodeIs("a node fails its health check; it serves no more requests until it passes", brokenNode))
	if by := served(60); by["127.0.0.2"] != 0 || by["127.0.0.1"] == 0 || by["127.0.0.3"] == 0 {
		t.Fatalf("60 requests reached %v, want the two healthy replicas and not 127.0.0.2", by)
	}

	// A refresh that keeps 127.0.0.2's address keeps its health.
	ns.set("127.0.0.1", "127.0.0.2")
	gw.waitLog(resolvedTo(2))
	if by := served(30); by["127.0.0.2"] != 0 {
		t.Fatalf("after a refresh that kept its address, the failing replica got %d of 30 requests", by["127.0.0.2"])
	}

	broken.Store(false)
	gw.waitLog(nodeIs("a node passes its health check again; it serves", brokenNode))
	if by := served(60); by["127.0.0.2"] == 0 || by["127.0.0.3"] != 0 {
		t.Fatalf("after it recovered: %v, want 127.0.0.2 served again (and 127.0.0.3, dropped by DNS, not)", by)
	}
}
