package config_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestMaxClientConnections: limits.max_client_connections is read, zero
// (the default derived from the descriptor limit) when left out, and
// refused negative, the error naming it.
func TestMaxClientConnections(t *testing.T) {
	c, err := config.Parse("gw.yaml", []byte(nodes))
	if err != nil || c.Limits.MaxClientConnections != 0 {
		t.Fatalf("left out: %v, %d; want 0", err, c.Limits.MaxClientConnections)
	}
	c, err = config.Parse("gw.yaml", []byte(nodes+"limits: {max_client_connections: 5000}\n"))
	if err != nil || c.Limits.MaxClientConnections != 5000 {
		t.Errorf("5000: %v, %d", err, c.Limits.MaxClientConnections)
	}
	_, err = config.Parse("gw.yaml", []byte(nodes+"limits:\n  max_client_connections: -1\n"))
	if err == nil || !strings.Contains(err.Error(), "limits.max_client_connections") {
		t.Errorf("-1: %v, want an error naming limits.max_client_connections", err)
	}
}
