package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
)

// A handler that did its work, then could not make a call in the time it
// gave it (the budget left was below the callee's fastest answer: a
// *BudgetTooLowError, 504 budget-too-low, "nothing was sent") passes that
// error on, as handlers do. Answered as it was, its caller took the
// handler's answer for a refusal on which no work was done, and sent the
// POST to another node, which did the work again: three orders for one,
// with the default client. rpc.Server answers such a failure 504
// budget-spent, which may have been processed, and the POST is not sent
// again.
func TestAHandlerPassingOnABudgetTooLowIsNotRetriedAsUnprocessed(t *testing.T) {
	stock := rpc.NewServer()
	rpc.Register(stock, "Stock.Reserve", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		time.Sleep(30 * time.Millisecond) // the callee's fastest answer: no call gets an answer sooner
		return &struct{}{}, nil
	})
	callee := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(stock))
	t.Cleanup(callee.Close)
	down := newClient(t, staticOf(t, &registry.Node{Service: "stock", ID: "stock", Address: callee.Listener.Addr().String()}))
	for range 20 { // the client learns the callee's fastest answer
		if err := down.Call(context.Background(), "stock", "Stock.Reserve", struct{}{}, nil); err != nil {
			t.Fatal(err)
		}
	}

	var orders atomic.Int64
	s := rpc.NewServer()
	rpc.Register(s, "Orders.Create", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		orders.Add(1) // the work, done before the call
		ctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		defer cancel()
		return nil, down.Call(ctx, "stock", "Stock.Reserve", struct{}{}, nil)
	})
	var nodes []*registry.Node
	for _, id := range []string{"orders1", "orders2", "orders3"} {
		srv := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(s))
		t.Cleanup(srv.Close)
		nodes = append(nodes, &registry.Node{Service: "orders", ID: id, Address: srv.Listener.Addr().String()})
	}
	c := newClient(t, staticOf(t, nodes...))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Call(ctx, "orders", "Orders.Create", struct{}{}, nil)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Status != http.StatusGatewayTimeout || re.Type != problem.TypeBudgetSpent {
		t.Errorf("Call: %v; want the handler's failure, 504 %s", err, problem.TypeBudgetSpent)
	}
	if n := orders.Load(); n != 1 {
		t.Errorf("the order was made %d times, want once: the POST was sent again after its handler had run", n)
	}
}
