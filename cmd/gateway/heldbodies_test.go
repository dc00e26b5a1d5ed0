package main

import (
	"testing"

	"github.com/sluicehq/sluice/router"
)

// TestHeldBodiesBudgetFollowsReloads: the budget of held request bodies is
// the gateway's, across the routers its configurations build: its size is
// limits.max_held_body_bytes, a reload that changes it applies at once (no
// restart required), and the metrics read the one budget the routers use.
func TestHeldBodiesBudgetFollowsReloads(t *testing.T) {
	backend := echoBackend(t)
	base := configText(backend, "  - {path: /v1, service: svc}\n")
	cfg, _ := loadFile(t, base)
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	budget := func() float64 { t.Helper(); return gauge(t, g, "sluice_held_body_budget_bytes") }
	if got := budget(); got != router.DefaultHeldBodyBytes {
		t.Fatalf("the budget at start: %v, want the default %d", got, router.DefaultHeldBodyBytes)
	}
	next, _ := loadFile(t, base+"limits: {max_held_body_bytes: 8388608}\n")
	if got := restartOnly(cfg, next); len(got) != 0 {
		t.Errorf("restart required for %q, want none", got)
	}
	g.applyLoaded(loaded{cfg: next, hash: next.Hash()}, false)
	if got := budget(); got != 8<<20 || g.heldBodies.Max() != 8<<20 {
		t.Fatalf("the budget after a reload to 8 MiB: %v", got)
	}
	g.applyLoaded(loaded{cfg: cfg, hash: cfg.Hash()}, false)
	if got := budget(); got != router.DefaultHeldBodyBytes {
		t.Fatalf("the budget after a reload leaving it out: %v, want the default", got)
	}
}
