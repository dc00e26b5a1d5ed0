package router_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/router"
)

// TestUpgradeFieldDoesNotUnboundTheDrain: a request that declares a body
// it never sends, to a path no route serves, gets its 404 once the body
// idle timeout ends the server's drain of that body, on both listener
// servers, whether it carries an Upgrade field or not. It failed while
// Router.boundDrain skipped any request with an Upgrade field (for a
// tunnel's sake, though no request with a body becomes one: serveUpgrade
// refuses it), so that adding "Upgrade: x" to such a request held the
// connection, answer and all, for as long as the client liked.
func TestUpgradeFieldDoesNotUnboundTheDrain(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	s := (&setup{opts: router.Options{BodyIdleTimeout: 50 * time.Millisecond}}).node("svc", b.addr())
	rt := s.build(t, router.Route{Method: "GET", Path: "/ws", Service: "svc", Budget: policy})
	for name, base := range listenerServers(t, rt) {
		for _, upgrade := range []string{"", "Connection: Upgrade\r\nUpgrade: websocket\r\n", "Upgrade: x\r\n"} {
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = io.WriteString(c, "GET /nowhere HTTP/1.1\r\nHost: h\r\n"+upgrade+"Content-Length: 10\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(waitLimit))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("%s, %q: no answer within %v: %v", name, upgrade, waitLimit, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s, %q: %d, want 404", name, upgrade, resp.StatusCode)
			}
		}
	}
}
