package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/router"
)

// A route with a stream field, even an empty one, is a stream route with
// the fields it sets; a route without one is unary; an RPC route cannot be
// a stream route, and the error points at the field.
func TestStreamRoutes(t *testing.T) {
	const text = nodes + `
routes:
  - {path: /plain, service: svc}
  - {path: /empty, service: svc, stream: {}}
  - {path: /set, service: svc, stream: {idle_timeout: 30s, max_lifetime: 2h}}
`
	c, err := config.Parse("gw.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.RouterRoutes()
	if rs[0].Stream != nil {
		t.Errorf("/plain is a stream route: %+v", rs[0].Stream)
	}
	if rs[1].Stream == nil || *rs[1].Stream != (router.StreamPolicy{}) {
		t.Errorf("/empty: %+v, want a stream route with zero fields", rs[1].Stream)
	}
	if s := rs[2].Stream; s == nil || s.IdleTimeout != 30*time.Second || s.MaxLifetime != 2*time.Hour {
		t.Errorf("/set: %+v", s)
	}

	_, err = config.Parse("gw.yaml", []byte(nodes+"routes:\n  - {path: /r, service: svc, endpoint: A.B, stream: {}}\n"))
	if err == nil || !strings.Contains(err.Error(), "routes[0].stream") || !strings.Contains(err.Error(), "not RPC routes") {
		t.Errorf("stream on an RPC route: %v", err)
	}
}
