package main

import (
	"slices"
	"testing"
)

// TestBackendHeaderBoundNeedsARestart: limits.max_backend_header_bytes
// bounds the connection pools, which live for the whole process, so a
// reload that changes it says a restart is required, where the rest of
// limits applies on reload.
func TestBackendHeaderBoundNeedsARestart(t *testing.T) {
	backend := echoBackend(t)
	base := configText(backend, "  - {path: /v1, service: svc}\n")
	cfg, _ := loadFile(t, base)
	next, _ := loadFile(t, base+"limits: {max_backend_header_bytes: 131072, body_idle_timeout: 3s}\n")
	if got := restartOnly(cfg, next); !slices.Equal(got, []string{"limits.max_backend_header_bytes"}) {
		t.Errorf("restart required for %q, want the backend header bound only", got)
	}
}
