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
	if routeConnShare != 2 || adminConnShare != 16 || addrConnShare != 8 || tunnelShare != 2 {
		t.Errorf("the shares changed (%d, %d, %d, %d): update the docs (\"at most half of these connections may be switched\", \"At most half of one address's connections\") and this test",
			routeConnShare, adminConnShare, addrConnShare, tunnelShare)
	}
	if !strings.Contains(doc, "at most half of these connections may be switched") {
		t.Error("docs/configuration.md does not state the bound of switched connections")
	}
	if !strings.Contains(doc, "At most half of one address's connections may be switched at once (an eighth of the switched connections by default)") {
		t.Error("docs/configuration.md does not state the bound of one address's switched connections")
	}
}

// TestDocStatesTheLogQueue: docs/observability.md states the log queue's
// bounds and batch as cmd/gateway sets them.
func TestDocStatesTheLogQueue(t *testing.T) {
	data, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(data)), " ")
	for _, s := range []string{
		fmt.Sprintf("access-log lines past %d MiB waiting for it, other lines past %d MiB", logQueueBytes>>20, (2*logQueueBytes)>>20),
		fmt.Sprintf("those of %d ms in one write", logWriteDelay.Milliseconds()),
		fmt.Sprintf("holds %d MiB (some 3,000 of them)", logQueueBytes>>20),
		fmt.Sprintf("written out for at most %d s after the drain", int(logFlushTimeout.Seconds())),
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/observability.md does not say %q", s)
		}
	}
}
