package hostile

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// With a per-try timeout set (upstream.per_try_timeout), an attempt can
// end while the gateway still waits on the client's streamed upload: the
// timeout fires on the client's slowness, not the node's. Counted as the
// node's fault, a few clients trickling uploads would eject every node of
// a service and open its breaker for everyone. The upstream client tells
// the two apart (TestStalledUploadPastThePerTryTimeoutBlamesNobody, in
// upstream); through the gateway, a streamed body goes to the transport's
// Fallback, whose round trip waits for the body's read, so the attempt
// ends at the body idle timeout, with the client's fault. This case holds
// the combination, on a gateway of its own, since the suite's has no
// per-try timeout.

// perTryTimeout is the gateway's upstream.per_try_timeout: far below the
// body idle timeout (10 s), so that it fires first in each stalled
// upload's attempt.
const perTryTimeout = 300 * time.Millisecond

// TestStalledUploadsPastThePerTryTimeout runs the case on each listener
// server.
func TestStalledUploadsPastThePerTryTimeout(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newPerTryStack(t, srv.name, srv.config)
		runCase(t, s, hcase{family: "slow-clients", name: "uploads stalled past the per-try timeout: 408, nobody blamed",
			run: stalledPastPerTry})
	})
}

// stalledPastPerTry sends stalled uploads past the replay buffer (so that
// they stream to the node as they come), each answered 408 as the client's
// fault; then the node is neither ejected nor counted against, and serves
// a normal request.
func stalledPastPerTry(t *testing.T, s *stack) {
	const uploads = 5
	big := strings.Repeat("x", 100<<10)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			c := dial(t, s.gw)
			head := fmt.Sprintf("PUT /up/stalled%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", i, 2*len(big))
			if _, err := io.WriteString(c, head+big); err != nil {
				t.Error(err)
				return
			}
			x := readAll(c, http.MethodPut)
			if len(x.answers) == 0 {
				t.Errorf("upload %d: no answer (%v)", i, x.end)
				return
			}
			if a := x.answers[0]; a.status() != http.StatusRequestTimeout || !a.isProblem() {
				t.Errorf("upload %d: answered %d %s, want the 408 problem: the stall is the client's", i, a.status(), a.body)
			}
		})
	}
	wg.Wait()

	st := adminUpstream(t, s)
	t.Logf("admin/upstream after the stalled uploads: %+v", st)
	for _, b := range st.Breakers {
		if b.Service == "up" && (b.State != "closed" || b.Faults != 0) {
			t.Errorf("the service's breaker is %s with %d faults in %d calls: the clients' stalls were counted against it", b.State, b.Faults, b.Calls)
		}
	}
	for _, e := range st.Ejections {
		t.Errorf("node %s was ejected for its clients' stalls", e.Node)
	}
	if a, x := get(t, s.gw, "/up/after"); !a.fromBackend() || a.status() != http.StatusOK {
		t.Errorf("a normal request after the stalls: %s, want 200 from the backend", x)
	}
}

// newPerTryStack starts a gateway with a per-try timeout and one service,
// "up", on an echo backend.
func newPerTryStack(t *testing.T, name, server string) *stack {
	t.Helper()
	s := &stack{server: name, echo: newEchoBackend(t)}
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: up, id: up-1, address: %q}\n", s.echo.Listener.Addr().String())
	fmt.Fprintf(&b, "upstream: {per_try_timeout: %s}\n", perTryTimeout)
	b.WriteString("defaults:\n  budget: {timeout: 15s, max: 15s, min: 1ms}\n")
	b.WriteString("routes:\n  - {name: up, method: \"*\", path: /up/*, service: up}\n")
	proc, addrs := startWith(t, b.String())
	s.proc, s.gw, s.admin = proc, addrs[0], addrs[1]
	return s
}
