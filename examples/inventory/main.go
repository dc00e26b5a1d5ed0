// Command inventory is the middle service of the example chain orders →
// inventory → pricing: Inventory.Check says whether an item is in stock and
// asks pricing for its price.
//
//	inventory -listen 127.0.0.1:9103 -peers pricing=127.0.0.1:9104
package main

import (
	"context"
	"flag"
	"net/http"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9103", "address to serve on")
	var peers demo.Peers
	flag.Var(&peers, "peers", "nodes of the services called, as name=host:port,...")
	logger := demo.Logger("inventory")
	demo.Main("inventory", func() error {
		if len(peers) == 0 {
			_ = peers.Set("pricing=127.0.0.1:9104")
		}
		client, err := demo.Client(peers)
		if err != nil {
			return err
		}
		srv := rpc.NewServer()
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
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, srv)
		return demo.Serve("inventory", *listen, mux, logger)
	})
}
