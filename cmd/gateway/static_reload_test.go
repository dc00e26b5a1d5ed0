package main

import (
	"context"
	"strings"
	"testing"
)

// TestAReloadedRouteHasItsNodesWhenItServes: a reload that adds a service
// to a static registry, with a route to it, gives the service its nodes
// before the route serves. Once install has swapped the routes in, the
// route's first request finds them: they were set only after, so that the
// first requests to the new route got 503 no-nodes. A service the next
// version no longer lists is left with none once that version applies.
func TestAReloadedRouteHasItsNodesWhenItServes(t *testing.T) {
	backend := echoBackend(t)
	cfg, _ := loadFile(t, configText(backend, "  - {path: /v1, service: svc}\n"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	added := strings.Replace(configText(backend, "  - {path: /v1, service: svc}\n  - {path: /v2, service: other}\n"),
		"  static:\n", "  static:\n    - {service: other, address: \""+backend+"\"}\n", 1)
	next, _ := loadFile(t, added)
	if err := g.install(next); err != nil {
		t.Fatal(err)
	}
	if rec := get(g.handler(), "/v2"); rec.Code != 200 || rec.Body.String() != "/v2" {
		t.Fatalf("the new route's first request: %d %q, want the backend's 200", rec.Code, rec.Body)
	}

	dropped, _ := loadFile(t, strings.Replace(configText(backend, "  - {path: /v2, service: other}\n"),
		"{service: svc,", "{service: other,", 1))
	g.applyLoaded(loaded{cfg: dropped, hash: dropped.Hash()}, false)
	if nodes, _ := g.registry.Lookup(context.Background(), "svc"); len(nodes) != 0 {
		t.Errorf("service svc, no longer listed, still has %d nodes", len(nodes))
	}
	if nodes, _ := g.registry.Lookup(context.Background(), "other"); len(nodes) != 1 {
		t.Errorf("service other has %d nodes, want its one", len(nodes))
	}
}
