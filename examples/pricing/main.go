// Command pricing is the last service of the example chain: Pricing.Quote
// prices an item. It can be made slow, for every request with -delay or for
// one with the request's "slow" member (a duration such as 500ms), to show a
// budget running out. While slow it watches its context and stops as soon as
// the caller's budget is spent. GET /stats counts the quotes started,
// completed and cancelled.
//
//	pricing -listen 127.0.0.1:9104 [-delay 0s]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/examples/internal/demo"
	"github.com/sluicehq/sluice/rpc"
)

// Stats counts quotes.
type Stats struct {
	Started   int64 `json:"started"`
	Completed int64 `json:"completed"`
	Cancelled int64 `json:"cancelled"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9104", "address to serve on")
	delay := flag.Duration("delay", 0, "time every quote takes")
	logger := demo.Logger("pricing")
	var started, completed, cancelled atomic.Int64
	demo.Main("pricing", func() error {
		srv := rpc.NewServer()
		rpc.Register(srv, "Pricing.Quote", func(ctx context.Context, req *demo.ChainRequest) (*demo.ChainResponse, error) {
			wait := *delay
			if req.Slow != "" {
				d, err := time.ParseDuration(req.Slow)
				if err != nil || d < 0 {
					return nil, rpc.Errorf(http.StatusBadRequest, "slow must be a duration such as 500ms, got %q", req.Slow)
				}
				wait = d
			}
			started.Add(1)
			me := demo.Report(ctx, "pricing")
			if wait > 0 {
				t := time.NewTimer(wait)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					cancelled.Add(1)
					logger.Info("quote abandoned: the caller's budget is spent", slog.String("item", req.Item),
						slog.Float64("received_ms", me.ReceivedMs))
					return nil, ctx.Err()
				}
			}
			completed.Add(1)
			h := fnv.New32a()
			h.Write([]byte(req.Item))
			return &demo.ChainResponse{
				Item:    req.Item,
				Price:   float64(h.Sum32()%10000) / 100,
				Budgets: []demo.Budget{me},
			}, nil
		})
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, srv)
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(Stats{started.Load(), completed.Load(), cancelled.Load()})
		})
		return demo.Serve("pricing", *listen, mux, logger)
	})
}
