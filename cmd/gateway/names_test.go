package main

import (
	"slices"
	"strings"
	"testing"
)

// TestDNSSettingsNeedARestart: registry.dns_refresh and dns_server are
// read at start (the names' refresh runs from then), so a reload that
// changes them says a restart is required; one that changes only the
// static nodes does not.
func TestDNSSettingsNeedARestart(t *testing.T) {
	base := configText("127.0.0.1:9", "  - {path: /v1, service: svc}\n")
	cfg, _ := loadFile(t, base)
	for _, change := range []string{"  dns_refresh: 30s\n", "  dns_server: \"10.0.0.2:53\"\n"} {
		next, _ := loadFile(t, strings.Replace(base, "registry:\n", "registry:\n"+change, 1))
		if got := restartOnly(cfg, next); !slices.Equal(got, []string{"registry"}) {
			t.Errorf("%q: restart required for %q, want registry", change, got)
		}
	}
	next, _ := loadFile(t, strings.Replace(base, "127.0.0.1:9", "127.0.0.1:10", 1))
	if got := restartOnly(cfg, next); len(got) != 0 {
		t.Errorf("new static nodes: restart required for %q, want none", got)
	}
}
