package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
)

func TestHealthAndReadiness(t *testing.T) {
	cfg, _ := loadFile(t, configText(echoBackend(t), "  - {path: /v1, service: svc}\n"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Handler{"listener": g.handler(), "admin": g.adminHandler()} {
		t.Run(name, func(t *testing.T) {
			g.draining.Store(false)
			if rec := get(h, "/healthz"); rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
				t.Errorf("/healthz = %d %q", rec.Code, rec.Body)
			}
			if rec := get(h, "/readyz"); rec.Code != http.StatusOK || rec.Body.String() != "ready\n" {
				t.Errorf("/readyz = %d %q", rec.Code, rec.Body)
			}
			g.draining.Store(true)
			rec := get(h, "/readyz")
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Content-Type") != problem.ContentType {
				t.Errorf("/readyz while draining = %d %q, want a 503 problem", rec.Code, rec.Header().Get("Content-Type"))
			}
			if rec := get(h, "/healthz"); rec.Code != http.StatusOK {
				t.Errorf("/healthz while draining = %d, want 200: the process is alive", rec.Code)
			}
		})
	}
}

func TestHandlerServesRoutesWithLogsAndMetrics(t *testing.T) {
	cfg, _ := loadFile(t, configText(echoBackend(t), "  - {path: /v1, service: svc}\n"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	if rec := get(h, "/v1"); rec.Code != http.StatusOK || rec.Body.String() != "/v1" {
		t.Fatalf("/v1 = %d %q, want the backend's answer", rec.Code, rec.Body)
	}
	if rec := get(h, "/nowhere"); rec.Code != http.StatusNotFound {
		t.Errorf("/nowhere = %d, want 404", rec.Code)
	}
	lines := logs.waitFor(t, "request", 2)
	if lines[0]["path"] != "/v1" || lines[0]["status"] != float64(200) || lines[1]["status"] != float64(404) {
		t.Errorf("access log %v", lines)
	}
	metrics := get(g.adminHandler(), "/metrics").Body.String()
	for _, want := range []string{`sluice_requests_total{code="200",method="GET",route="GET /v1"} 1`, `sluice_requests_total{code="404",method="GET",route="(none)"} 1`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReload(t *testing.T) {
	backend := echoBackend(t)
	cfg, path := loadFile(t, configText(backend, "  - {path: /v1, service: svc}\n"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler() // built once, as serve does: reloads must reach it
	load := func() (*config.Config, error) { return config.Load(path) }

	// A bad file is reported and the running routes keep serving.
	writeFile(t, path, configText(backend, "  - {path: /v2, service: nope}\n"))
	g.reload(load)
	failed := logs.waitFor(t, "configuration reload failed; the running configuration keeps serving", 1)
	if msg, _ := failed[0]["error"].(string); !strings.HasPrefix(msg, path+":8:") || !strings.Contains(msg, "nope") {
		t.Errorf("reload error %q, want it at %s:8", msg, path)
	}
	if failed[0]["level"] != "ERROR" {
		t.Errorf("reload failure logged at %v", failed[0]["level"])
	}
	if rec := get(h, "/v1"); rec.Code != http.StatusOK || rec.Body.String() != "/v1" {
		t.Errorf("after a bad reload /v1 = %d %q, want the old route", rec.Code, rec.Body)
	}
	if rec := get(h, "/v2"); rec.Code != http.StatusNotFound {
		t.Errorf("after a bad reload /v2 = %d, want 404", rec.Code)
	}

	// A missing file too.
	missing := func() (*config.Config, error) { return config.Load(path + ".gone") }
	g.reload(missing)
	logs.waitFor(t, "configuration reload failed; the running configuration keeps serving", 2)
	if rec := get(h, "/v1"); rec.Code != http.StatusOK {
		t.Errorf("after a missing file /v1 = %d", rec.Code)
	}

	// A good file swaps the routes.
	writeFile(t, path, configText(backend, "  - {path: /v2, service: svc}\n  - {path: /v3, service: svc}\n"))
	g.reload(load)
	done := logs.waitFor(t, "configuration reloaded", 1)
	if done[0]["routes"] != float64(2) {
		t.Errorf("reload log %v, want 2 routes", done[0])
	}
	if rec := get(h, "/v2"); rec.Code != http.StatusOK || rec.Body.String() != "/v2" {
		t.Errorf("after a good reload /v2 = %d %q", rec.Code, rec.Body)
	}
	if rec := get(h, "/v1"); rec.Code != http.StatusNotFound {
		t.Errorf("after a good reload /v1 = %d, want 404: the old route is gone", rec.Code)
	}
}

func TestAdminRegistryOnStatic(t *testing.T) {
	cfg, _ := loadFile(t, configText(echoBackend(t), "  - {path: /v1, service: svc}\n"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	rec := get(g.adminHandler(), "/admin/registry")
	var got struct {
		Kind     string `json:"kind"`
		Services []any  `json:"services"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("/admin/registry = %d %s (%v)", rec.Code, rec.Body, err)
	}
	if got.Kind != "static" || got.Services == nil || len(got.Services) != 0 {
		t.Errorf("/admin/registry = %s, want static with an empty list", rec.Body)
	}
}

func TestReloadUpdatesTheStaticRegistry(t *testing.T) {
	first, second := echoBackend(t), echoBackend(t)
	cfg, path := loadFile(t, configText(first, "  - {path: /v1, service: svc}\n"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	// The new file moves svc to another node and adds a service with a route.
	text := strings.Replace(configText(second, "  - {path: /v1, service: svc}\n  - {path: /v2, service: other}\n"),
		"    - {service: svc,", "    - {service: other, address: \""+second+"\"}\n    - {service: svc,", 1)
	writeFile(t, path, text)
	g.reload(func() (*config.Config, error) { return config.Load(path) })
	logs.waitFor(t, "configuration reloaded", 1)
	if rec := get(h, "/v2"); rec.Code != http.StatusOK {
		t.Fatalf("a route to a service the reloaded file added: %d %s, want 200", rec.Code, rec.Body)
	}
	nodes, err := g.registry.Lookup(t.Context(), "svc")
	if err != nil || len(nodes) != 1 || nodes[0].Address != second {
		t.Fatalf("svc after reload = %v (%v), want only %s", nodes, err, second)
	}
}
