package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/redislimit/redistest"
)

// TestGlobalLimitAcrossGatewaysIgnoresRetries: two gateways (two
// replicas) sharing one Redis hold one client to one global limit, their
// RateLimit fields counting down across both; and the gateway's own
// retries (every request's first attempt fails with a 503 and is retried)
// spend none of the client's quota: the limit runs once per client
// request, at the edge.
func TestGlobalLimitAcrossGatewaysIgnoresRetries(t *testing.T) {
	srv := redistest.Start(t)
	var (
		mu       sync.Mutex
		attempts = map[string]int{}
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Test-Request")
		mu.Lock()
		attempts[id]++
		n := attempts[id]
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried: a GET is idempotent
			return
		}
		_, _ = fmt.Fprint(w, "ok")
	}))
	t.Cleanup(backend.Close)
	text := configText(backend.Listener.Addr().String(),
		`  - {name: api, path: /api, service: svc, rate_limit: {rps: 0.01, burst: 3, key: "header:X-Api-Key", global: true}}
`) + "redis: {address: \"" + srv.Addr + "\", timeout: 1s, replicas: 2}\n"
	var (
		hs []http.Handler
		gs []*gateway
	)
	for range 2 {
		cfg, _ := loadFile(t, text)
		logger, _ := newLogger()
		g, err := newGateway(cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		hs, gs = append(hs, g.handler()), append(gs, g)
	}
	send := func(i int) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api", nil)
		req.Header.Set("X-Api-Key", "client-1")
		req.Header.Set("X-Test-Request", fmt.Sprint(i))
		rec := httptest.NewRecorder()
		hs[i%2].ServeHTTP(rec, req)
		return rec
	}
	for i, want := range []string{`"api";r=2;t=100`, `"api";r=1;t=200`, `"api";r=0;t=300`} {
		rec := send(i)
		if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
			t.Fatalf("request %d via gateway %d: %d %q", i+1, i%2+1, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("RateLimit"); got != want {
			t.Errorf("request %d: RateLimit %q, want %q", i+1, got, want)
		}
		if got := rec.Header().Get("RateLimit-Policy"); got != `"api";q=3;w=300` {
			t.Errorf("request %d: RateLimit-Policy %q", i+1, got)
		}
	}
	mu.Lock()
	for i := range 3 {
		if attempts[fmt.Sprint(i)] != 2 {
			t.Errorf("request %d reached the backend %d times, want 2 (a retry)", i+1, attempts[fmt.Sprint(i)])
		}
	}
	mu.Unlock()
	// Three requests, six attempts: the quota of 3 is spent by the
	// requests alone, on either gateway.
	for i := 3; i < 5; i++ {
		rec := send(i)
		if rec.Code != http.StatusTooManyRequests || !strings.HasPrefix(rec.Header().Get("RateLimit"), `"api";r=0;`) {
			t.Fatalf("request %d via gateway %d: %d, RateLimit %q; want 429 with r=0", i+1, i%2+1, rec.Code, rec.Header().Get("RateLimit"))
		}
	}
	// Gateway 1 decided requests 1, 3 and 5, all with Redis.
	if n := testutil.ToFloat64(gs[0].edge.global.decisions.WithLabelValues("api", "global")); n != 3 {
		t.Errorf("sluice_rate_limit_decisions_total{route=api,source=global} = %v, want 3", n)
	}
	if n := testutil.ToFloat64(gs[0].edge.rateLimited.WithLabelValues("api")); n != 1 {
		t.Errorf("sluice_rate_limited_total{route=api} = %v, want 1", n)
	}
}

// TestGlobalLimitStoreAcrossReloads: a reload that keeps the redis block
// keeps its store (pool, breaker) and the route's Redis state; one that
// changes it makes a new store and closes the old.
func TestGlobalLimitStoreAcrossReloads(t *testing.T) {
	srv := redistest.Start(t)
	backend := echoBackend(t)
	text := func(timeout string) string {
		return configText(backend, `  - {name: api, path: /api, service: svc, rate_limit: {rps: 0.01, burst: 1, global: true}}
`) + "redis: {address: \"" + srv.Addr + "\", timeout: " + timeout + "}\n"
	}
	cfg, path := loadFile(t, text("1s"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	if rec := get(h, "/api"); rec.Code != http.StatusOK {
		t.Fatalf("first /api = %d", rec.Code)
	}
	first := g.edge.global.stores
	if len(first) != 1 {
		t.Fatalf("%d stores, want 1", len(first))
	}
	var store0 any
	for _, s := range first {
		store0 = s
	}
	load := func() (*config.Config, error) { return config.Load(path) }
	g.reload(load)
	logs.waitFor(t, "configuration reloaded", 1)
	if rec := get(h, "/api"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("/api after an unchanged reload = %d, want 429 (Redis kept the client's state)", rec.Code)
	}
	for _, s := range g.edge.global.stores {
		if any(s) != store0 || len(g.edge.global.stores) != 1 {
			t.Fatal("an unchanged redis block got a new store")
		}
	}
	writeFile(t, path, text("900ms"))
	g.reload(load)
	logs.waitFor(t, "configuration reloaded", 2)
	if len(g.edge.global.stores) != 1 {
		t.Fatalf("%d stores after a changed redis block, want 1 (the old one closed)", len(g.edge.global.stores))
	}
	for _, s := range g.edge.global.stores {
		if any(s) == store0 {
			t.Fatal("a changed redis block kept the old store")
		}
	}
	// Redis's state is Redis's: the new store sees the same bucket.
	if rec := get(h, "/api"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("/api after a changed redis block = %d, want 429", rec.Code)
	}
}

// TestRedisBreakerGauge: sluice_redis_breaker_open is 1 while a stopped
// Redis is left alone, the requests meanwhile decided by the local share
// (fail-open), and 0 again once the probe finds Redis back.
func TestRedisBreakerGauge(t *testing.T) {
	srv := redistest.Start(t)
	backend := echoBackend(t)
	cfg, _ := loadFile(t, configText(backend, `  - {name: api, path: /api, service: svc, rate_limit: {rps: 1000, global: true}}
`)+"redis: {address: \""+srv.Addr+"\", timeout: 20ms, cooldown: 50ms}\n")
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	gauge := func() float64 {
		mfs, err := g.promReg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sluice_redis_breaker_open" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no sluice_redis_breaker_open")
		return -1
	}
	if rec := get(h, "/api"); rec.Code != http.StatusOK || gauge() != 0 {
		t.Fatalf("Redis up: %d, gauge %v", rec.Code, gauge())
	}
	srv.Pause(t)
	for i := range 3 {
		if rec := get(h, "/api"); rec.Code != http.StatusOK {
			t.Fatalf("request %d with Redis stopped: %d, want 200 from the local share", i+1, rec.Code)
		}
	}
	if gauge() != 1 {
		t.Fatalf("gauge %v after 3 failed decisions, want 1", gauge())
	}
	if n := testutil.ToFloat64(g.edge.global.decisions.WithLabelValues("api", "local")); n < 3 {
		t.Errorf("local decisions %v, want at least 3", n)
	}
	srv.Resume(t)
	deadline := time.Now().Add(10 * time.Second)
	for gauge() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not close within 10 s of SIGCONT")
		}
		time.Sleep(10 * time.Millisecond) // polling the condition
	}
}

// TestLocalLimitFields: a per-replica limit's answers carry the RateLimit
// fields too, named after the route.
func TestLocalLimitFields(t *testing.T) {
	cfg, _ := loadFile(t, configText(echoBackend(t), `  - {name: limited, path: /limited, service: svc, rate_limit: {rps: 0.001, burst: 1}}
`))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	for _, want := range []struct {
		code  int
		limit string
	}{{http.StatusOK, `"limited";r=0;t=1000`}, {http.StatusTooManyRequests, `"limited";r=0;t=1000`}} {
		rec := get(h, "/limited")
		if rec.Code != want.code || rec.Header().Get("RateLimit") != want.limit ||
			rec.Header().Get("RateLimit-Policy") != `"limited";q=1;w=1000` {
			t.Fatalf("%d, RateLimit %q, RateLimit-Policy %q; want %d, %q", rec.Code, rec.Header().Get("RateLimit"),
				rec.Header().Get("RateLimit-Policy"), want.code, want.limit)
		}
	}
}
