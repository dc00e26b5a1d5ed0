package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// TestAuditSpentBudgetOnAKnownNodeIsBudgetSpent: a call whose budget is
// already spent fails 504 budget-spent, and nothing is sent. It did only
// while its node had never been called: once the node had a concurrency
// limit, the limit's queue check compared the negative budget left with
// the node's expected wait, took the node for full, and the call was
// answered 503 overloaded (Retry-After, counted in
// sluice_upstream_shed_total), the node marked as refusing.
func TestAuditSpentBudgetOnAKnownNodeIsBudgetSpent(t *testing.T) {
	b := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, b.node()))
	resp, err := c.Do(get(t, context.Background(), "/"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	resp, err = c.Do(get(t, ctx, "/"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do succeeded with a spent budget")
	}
	if !errors.Is(err, budget.ErrSpent) {
		t.Errorf("error %v, want one wrapping budget.ErrSpent", err)
	}
	if status, typ, _ := rpc.StatusOf(err); status != http.StatusGatewayTimeout || typ != problem.TypeBudgetSpent {
		t.Errorf("StatusOf = %d %s, want 504 budget-spent", status, typ)
	}
	if n := c.Limits().Shed(); n != 0 {
		t.Errorf("%d calls counted as shed, want 0", n)
	}
	if n := len(b.seen()); n != 1 {
		t.Errorf("the node saw %d requests, want the first only", n)
	}
}
