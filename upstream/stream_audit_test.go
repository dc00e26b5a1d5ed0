package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream"
)

// TestAuditStreamHandshakeCutByTheBudgetIsNotTheNodes checks that a
// handshake that fails as the caller's budget runs out is judged as Do
// judges any attempt that does (classify: Abandoned), not blamed on the
// node. The handshake's deadline is rpc.DialStream's own context, whose
// timer fires apart from the caller's: with a node that never answered and
// a budget of 5 ms, 211 handshakes in 300 were counted as the node's
// failures (breaker fault, ejection report) and returned as an
// *AttemptError. Here the node drops the connection once the client's
// clock says the budget is spent, while the caller's context has not yet
// ended: the same judgement, without a race.
func TestAuditStreamHandshakeCutByTheBudgetIsNotTheNodes(t *testing.T) {
	start := time.Now()
	deadline := start.Add(waitTimeout)
	clock := newManualClock(start)
	spent := newBackend(t, "spent", func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(deadline.Sub(start)) // the budget ran out as the node held the handshake
		dropConn(t, w)
	})
	breakers := upstream.NewBreakers(upstream.BreakerSettings{})
	c := newClient(t, staticOf(t, spent.node()), upstream.WithClock(clock.Now), upstream.WithBreakers(breakers))
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	st, err := c.Stream(ctx, service, "Chat.Echo")
	if err == nil {
		st.Close()
		t.Fatal("the stream opened")
	}
	var ae *upstream.AttemptError
	if errors.As(err, &ae) {
		t.Errorf("error %v, want the budget's end, not the node's failure", err)
	}
	for _, s := range breakers.States() {
		if s.Faults != 0 {
			t.Errorf("breaker %+v, want no fault counted for a handshake the budget ended", s)
		}
	}
}
