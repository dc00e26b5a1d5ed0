package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/upstream"
)

// TestDocStatesEdgeBounds: docs/configuration.md states the bounds on
// client connections, large request heads, connects to nodes and HTTP/2's
// streams and frames as the code sets them.
func TestDocStatesEdgeBounds(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(data)), " ")
	for _, s := range []string{
		fmt.Sprintf("half the descriptor limit, at most %d", maxDefaultRouteConns),
		fmt.Sprintf("a 16th of the limit, at most %d", maxAdminConns),
		"| `max_client_connections_per_address` | integer | an eighth of `max_client_connections` |",
		fmt.Sprintf("reader that are being read at once share %d MiB", server.DefaultLargeHeadBytes>>20),
		fmt.Sprintf("has not completed within %s", strings.TrimSuffix(upstream.DefaultConnectTimeout.String(), "s")+" s"),
		fmt.Sprintf("An HTTP/2 connection may have at most %d requests in flight", h2MaxStreams),
		fmt.Sprintf("Its frames may be at most %d KiB", h2MaxReadFrame>>10),
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/configuration.md does not say %q", s)
		}
	}
	if routeConnShare != 2 || adminConnShare != 16 || addrConnShare != 8 {
		t.Errorf("the shares changed (%d, %d, %d): update the docs and this test", routeConnShare, adminConnShare, addrConnShare)
	}
}
