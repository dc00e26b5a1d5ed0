package hostile

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestAuditTunnelsPastTheDerivedPerTry: a route keeps switching
// WebSockets after its service has given 20 answers, when the upstream
// client derives a per-try timeout for its GETs, handshakes included. The
// handshake then went through h1's RoundTripBy, whose answer body was not
// the writable connection: the 21st handshake on, every one was answered
// 502 "the backend's 101 answer came without a connection to write to",
// its backend's switched connection dropped.
func TestAuditTunnelsPastTheDerivedPerTry(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newUpStack(t, srv.name, srv.config, "", upRoute{slug: "ws", answer: switchWith(wsSwitch)})
		const n = 30
		var refused []string
		for i := range n {
			c, _, resp := openTunnel(t, s.gw, handshake(fmt.Sprintf("/ws/%d", i)))
			if resp.StatusCode != 101 {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				refused = append(refused, fmt.Sprintf("#%d: %d %s", i+1, resp.StatusCode, b))
				c.Close()
				continue
			}
			msg := fmt.Sprintf("[tunnel %d]", i)
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatalf("tunnel %d: %v", i, err)
			}
			waitFor(t, "the tunnel's bytes at the backend", func() bool {
				_, raw := s.b["ws"].seen()
				return strings.Contains(raw, msg)
			})
			c.Close()
		}
		if len(refused) > 0 {
			t.Errorf("%d of %d handshakes to a backend that switched were not switched; the first: %s",
				len(refused), n, refused[0])
		}
	})
}
