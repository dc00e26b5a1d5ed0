// Command inventory is the middle service of the example chain orders →
// inventory → pricing: Inventory.Check says whether an item is in stock and
// asks pricing for its price.
//
//	inventory -listen 127.0.0.1:9103 -peers pricing=127.0.0.1:9104
package main

import (
	"context"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

func main() {
	demo.Middle("inventory", "127.0.0.1:9103", "pricing=127.0.0.1:9104", func(srv *rpc.Server, client *upstream.Client) {
		rpc.Register(srv, "Inventory.Check", func(ctx context.Context, req *demo.ChainRequest) (*demo.ChainResponse, error) {
			me := demo.Report(ctx, "inventory")
			var rsp demo.ChainResponse
			if err := client.Call(ctx, "pricing", "Pricing.Quote", req, &rsp); err != nil {
				return nil, err
			}
			rsp.InStock = len(req.Item)%5 != 0 // a stand-in for a stock lookup
			rsp.Budgets = append([]demo.Budget{me}, rsp.Budgets...)
			return &rsp, nil
		})
	})
}
