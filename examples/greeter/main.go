// Command greeter is the smallest example service: the RPC endpoint
// Greeter.Hello, and the same greeting as plain HTTP at GET /hello/{name}.
// Each answer reports the budget the greeter received.
//
//	greeter -listen 127.0.0.1:9101
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
)

// HelloRequest is the request of Greeter.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the answer of Greeter.Hello.
type HelloResponse struct {
	Message string      `json:"message"`
	Budget  demo.Budget `json:"budget"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9101", "address to serve on")
	fail := flag.Bool("fail", false, "answer every request 503, as a broken node would (for demos and tests)")
	logger := demo.Logger("greeter")
	demo.Main(func() error {
		srv := rpc.NewServer()
		rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, req *HelloRequest) (*HelloResponse, error) {
			if req.Name == "" {
				return nil, rpc.Errorf(http.StatusBadRequest, "name is required")
			}
			return &HelloResponse{Message: "Hello, " + req.Name + "!", Budget: demo.Report(ctx, "greeter")}, nil
		})
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, srv)
		mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(HelloResponse{
				Message: "Hello, " + r.PathValue("name") + "!",
				Budget:  demo.Report(r.Context(), "greeter"),
			})
		})
		var h http.Handler = mux
		if *fail {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				logger.Info("failing on purpose", slog.String("path", r.URL.Path))
				http.Error(w, "this node is broken (-fail)", http.StatusServiceUnavailable)
			})
		}
		return demo.Serve("greeter", *listen, h, logger)
	})
}
