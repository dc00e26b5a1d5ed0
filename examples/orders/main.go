// Command orders is the first service of the example chain orders →
// inventory → pricing. Orders.Get asks inventory, which asks pricing; the
// answer lists the budget every hop received, shrinking hop by hop.
//
//	orders -listen 127.0.0.1:9102 -peers inventory=127.0.0.1:9103
package main

import (
	"context"
	"flag"
	"net/http"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9102", "address to serve on")
	var peers demo.Peers
	flag.Var(&peers, "peers", "nodes of the services called, as name=host:port,...")
	logger := demo.Logger("orders")
	demo.Main("orders", func() error {
		if len(peers) == 0 {
			_ = peers.Set("inventory=127.0.0.1:9103")
		}
		client, err := demo.Client(peers)
		if err != nil {
			return err
		}
		srv := rpc.NewServer()
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
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, srv)
		return demo.Serve("orders", *listen, mux, logger)
	})
}
