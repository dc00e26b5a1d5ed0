// Command orders is the first service of the example chain orders →
// inventory → pricing. Orders.Get asks inventory, which asks pricing; the
// answer lists the budget every hop received, shrinking hop by hop.
//
//	orders -listen 127.0.0.1:9102 -peers inventory=127.0.0.1:9103
package main

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

func main() {
	demo.Middle("orders", "127.0.0.1:9102", "inventory=127.0.0.1:9103", func(srv *rpc.Server, client *upstream.Client) {
		rpc.Register(srv, "Orders.Get", func(ctx context.Context, req *demo.ChainRequest) (*demo.ChainResponse, error) {
			if req.Item == "" {
				return nil, rpc.Errorf(http.StatusBadRequest, "item is required")
			}
			me := demo.Report(ctx, "orders")
			var rsp demo.ChainResponse
			if err := client.Call(ctx, "inventory", "Inventory.Check", req, &rsp); err != nil {
				return nil, err
			}
			rsp.Budgets = append([]demo.Budget{me}, rsp.Budgets...)
			return &rsp, nil
		})
	})
}
