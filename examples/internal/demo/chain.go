package demo

import (
	"flag"
	"net/http"

	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// ChainRequest is the request every service of the orders → inventory →
// pricing chain takes.
type ChainRequest struct {
	// Item is what is being ordered.
	Item string `json:"item"`
	// Slow, a duration such as 500ms, makes pricing take that long.
	Slow string `json:"slow,omitempty"`
}

// ChainResponse is the answer of every service of the chain: the price, and
// the budget each hop received, from the first hop to the last.
type ChainResponse struct {
	Item    string   `json:"item"`
	InStock bool     `json:"in_stock"`
	Price   float64  `json:"price"`
	Budgets []Budget `json:"budgets"`
}

// Middle runs a service of the chain that calls the next one: the flags
// -listen (listen by default) and -peers (peers by default, name=host:port),
// a companion client that finds those peers (or Consul's, with -consul),
// and the endpoints register adds to an rpc.Server, until SIGTERM. orders
// and inventory are each one call of it.
func Middle(service, listen, peers string, register func(srv *rpc.Server, client *upstream.Client)) {
	addr := flag.String("listen", listen, "address to serve on")
	var ps Peers
	flag.Var(&ps, "peers", "nodes of the services called, as name=host:port,...")
	logger := Logger(service)
	Main(service, func() error {
		if len(ps) == 0 {
			_ = ps.Set(peers)
		}
		client, err := Client(ps)
		if err != nil {
			return err
		}
		srv := rpc.NewServer()
		register(srv, client)
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, srv)
		return Serve(service, *addr, mux, logger)
	})
}
