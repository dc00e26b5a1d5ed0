package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testbin"
	"github.com/sluicehq/sluice/redislimit/redistest"
)

// TestAReloadToARedisThatDoesNotAnswerIsRefused: a reload whose redis
// block names a Redis that does not answer (a typo in the address), while
// the serving one does, is refused, naming redis.address by line and
// column; the routes go on deciding with the Redis that answers. Before,
// the block was applied: measured, the fail-closed route answered 503 to
// 100 of 100 requests until the next reload. A reload to another Redis
// that answers is applied.
func TestAReloadToARedisThatDoesNotAnswerIsRefused(t *testing.T) {
	srv, other := redistest.Start(t), redistest.Start(t)
	backend := echoBackend(t)
	g, logs, reload := reloadableGateway(t, func(addr string) string {
		return configText(backend, `  - {name: api, path: /api, service: svc, rate_limit: {rps: 100, burst: 100, global: true, fallback: closed}}
`) + "redis: {address: \"" + addr + "\", timeout: 1s}\n"
	}, srv.Addr)
	h := g.handler()
	if rec := get(h, "/api"); rec.Code != http.StatusOK {
		t.Fatalf("/api before the reload: %d", rec.Code)
	}
	silent := net.JoinHostPort("127.0.0.1", strconv.Itoa(testbin.FreePorts(t, 1)[0])) // nothing listens
	reload(silent)
	refused := logs.waitFor(t, "configuration reload failed; the running configuration keeps serving", 1)
	if msg, _ := refused[0]["error"].(string); !strings.Contains(msg, "gateway.yaml:9:") || !strings.Contains(msg, "redis.address: "+silent+" does not answer") {
		t.Errorf("the refusal says %q, want gateway.yaml:9:COLUMN: redis.address: %s does not answer…", msg, silent)
	}
	for i := range 3 {
		if rec := get(h, "/api"); rec.Code != http.StatusOK {
			t.Fatalf("/api after the refused reload, request %d: %d, want 200 decided by the Redis that answers", i+1, rec.Code)
		}
	}
	if n := srv.Do(t, "DBSIZE"); n == ":0" {
		t.Error("the serving Redis holds no key: the requests were not decided there")
	}
	reload(other.Addr)
	logs.waitFor(t, "configuration reloaded", 1)
	if rec := get(h, "/api"); rec.Code != http.StatusOK {
		t.Fatalf("/api after a reload to another Redis that answers: %d", rec.Code)
	}
	if n := other.Do(t, "DBSIZE"); n == ":0" {
		t.Error("the new Redis holds no key: the reload to it was not applied")
	}
}
