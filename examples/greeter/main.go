// Command greeter is the smallest example service: the RPC endpoint
// Greeter.Hello, the same greeting as plain HTTP at GET /hello/{name}, and
// the stream endpoint Greeter.Chat, which greets every {"name":"X"} message
// it receives until the caller closes the stream (an empty name ends it with
// a 400 error, closing it with 1011). Each answer reports the budget the
// greeter received: for a stream, the budget of its handshake.
//
//	greeter -listen 127.0.0.1:9101
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
)

// HelloRequest is the request of Greeter.Hello, and each message a caller
// sends on a Greeter.Chat stream.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the answer of Greeter.Hello.
type HelloResponse struct {
	Message string      `json:"message"`
	Budget  demo.Budget `json:"budget"`
}

// ChatReply is each message the greeter sends on a Greeter.Chat stream: the
// greeting, the budget of the stream's handshake, and how many greetings
// the stream has had so far, this one included.
type ChatReply struct {
	Message string      `json:"message"`
	Budget  demo.Budget `json:"budget"`
	N       int         `json:"n"`
}

// chat serves one Greeter.Chat stream and returns how many greetings it
// sent, and nil when the caller closed the stream.
func chat(ctx context.Context, st *rpc.ServerStream) (int, error) {
	b := demo.Report(ctx, "greeter") // the handshake's budget; the stream has no deadline
	for n := 1; ; n++ {
		var req HelloRequest
		if err := st.Recv(ctx, &req); errors.Is(err, io.EOF) {
			return n - 1, nil // the caller closed the stream: close with 1000
		} else if err != nil {
			return n - 1, err // the stream ended otherwise
		}
		if req.Name == "" {
			return n - 1, rpc.Errorf(http.StatusBadRequest, "name is required") // closes with 1011
		}
		if err := st.Send(ctx, ChatReply{Message: "Hello, " + req.Name + "!", Budget: b, N: n}); err != nil {
			return n - 1, err
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9101", "address to serve on")
	fail := flag.Bool("fail", false, "answer every request 503, as a broken node would (for demos and tests)")
	logger := demo.Logger("greeter")
	demo.Main("greeter", func() error {
		srv := rpc.NewServer()
		rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, req *HelloRequest) (*HelloResponse, error) {
			if req.Name == "" {
				return nil, rpc.Errorf(http.StatusBadRequest, "name is required")
			}
			return &HelloResponse{Message: "Hello, " + req.Name + "!", Budget: demo.Report(ctx, "greeter")}, nil
		})
		streams := rpc.NewStreamServer()
		rpc.RegisterStream(streams, "Greeter.Chat", func(ctx context.Context, st *rpc.ServerStream) error {
			n, err := chat(ctx, st)
			attrs := []any{slog.Int("messages", n)}
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			logger.Info("chat ended", attrs...)
			return err
		})
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, rpc.Mux(srv, streams))
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
		return demo.Serve("greeter", *listen, h, logger, streams.Shutdown)
	})
}
