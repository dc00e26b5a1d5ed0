package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/rpc"
)

// streamGatewayConfig routes /rpc/* to the greeter as an HTTP route: the
// route a sluice.stream.v1 stream goes through (its WebSocket handshake is
// an upgrade, which HTTP routes switch by default).
const streamGatewayConfig = `
listeners:
  - address: 127.0.0.1:0
shutdown_grace: 5s
registry:
  kind: static
  static:
    - {service: greeter, address: %s}
routes:
  - {name: greeter-rpc, method: GET, path: /rpc/*, service: greeter, budget: {timeout: 2s}}
`

// nthChatEnded waits for the n-th (from 1) "chat ended" line of the greeter.
func nthChatEnded(p *proc, n int) map[string]any {
	p.T().Helper()
	seen := 0
	return p.waitLog(func(l map[string]any) bool {
		if l["msg"] != "chat ended" {
			return false
		}
		seen++
		return seen == n
	})
}

// TestStreamThroughTheGatewayBinary opens sluice.stream.v1 streams to the
// real greeter's Greeter.Chat through the real gateway: messages go both
// ways, the greeter sees the budget the gateway originated for the
// handshake (hop 1, within the route's 2 s), a close by the caller reaches
// the greeter as the normal end, and when the gateway is stopped (SIGTERM)
// both the caller and the greeter's handler see the stream end with 1001.
func TestStreamThroughTheGatewayBinary(t *testing.T) {
	g, addr := startGreeterProc(t)
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, file, fmt.Sprintf(streamGatewayConfig, addr))
	gw := start(t, "gateway", "-config", file)
	url := "http://" + gw.addr(0) + "/rpc/Greeter.Chat"

	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	st, err := rpc.DialStream(ctx, url, rpc.DialOptions{})
	if err != nil {
		t.Fatalf("DialStream through the gateway: %v", err)
	}
	names := []string{"Ada", "Grace", "日本語"}
	for _, name := range names { // several in flight at once
		if err := st.Send(ctx, chatName{Name: name}); err != nil {
			t.Fatalf("Send(%q): %v", name, err)
		}
	}
	for i, name := range names {
		var got chatReply
		if err := st.Recv(ctx, &got); err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if want := "Hello, " + name + "!"; got.Message != want || got.N != i+1 {
			t.Fatalf("got %+v, want %q n %d", got, want, i+1)
		}
		if b := got.Budget; b.Service != "greeter" || b.Hop != 1 || b.ReceivedMs <= 0 || b.ReceivedMs > 2000 {
			t.Fatalf("budget report %+v, want the gateway's handshake budget (hop 1, within 2s)", b)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if l := nthChatEnded(g, 1); l["messages"] != float64(len(names)) || l["error"] != nil {
		t.Fatalf("the greeter logged %v, want %d messages and no error: the caller's close reached it", l, len(names))
	}

	// A second stream, open when the gateway stops.
	st2, err := rpc.DialStream(ctx, url, rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if err := st2.Send(ctx, chatName{Name: "Edsger"}); err != nil {
		t.Fatal(err)
	}
	if err := st2.Recv(ctx, new(chatReply)); err != nil {
		t.Fatal(err)
	}
	gw.signal(syscall.SIGTERM)
	var se *rpc.StreamError
	if err := st2.Recv(ctx, new(chatReply)); !errors.As(err, &se) || se.Code != rpc.CloseGoingAway {
		t.Fatalf("the caller's stream ended with %v, want a close with 1001", err)
	}
	if l := nthChatEnded(g, 2); l["messages"] != float64(1) || !strings.Contains(fmt.Sprint(l["error"]), "1001") {
		t.Fatalf("the greeter logged %v, want its handler ended by a close with 1001 after 1 message", l)
	}
	if err := gw.wait(); err != nil {
		t.Fatalf("the gateway exited with %v after SIGTERM", err)
	}
}
