package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
)

// helloRequest and helloResponse are the one endpoint's messages, the same
// for every variant.
type helloRequest struct {
	Name string `json:"name"`
}

type helloResponse struct {
	Message string `json:"message"`
}

// statsPath answers the serving process's own CPU time and allocation count,
// so the driver measures a server variant's cost in the process that pays
// it, and nothing of its own.
const statsPath = "/_stats"

// stats is what statsPath answers.
type stats struct {
	CPU     time.Duration `json:"cpu_ns"`
	Mallocs uint64        `json:"mallocs"`
}

// selfStats reads this process's CPU time (user + system) and heap
// allocations so far.
func selfStats() stats {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return stats{
		CPU:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		Mallocs: ms.Mallocs,
	}
}

// serve is the child process: mode "rpc" is the companion package's server
// (budget.Inbound in front of rpc.Server), mode "mux" a bare http.ServeMux
// handler doing the same JSON work by hand. Both answer GET /hello/{name}
// too, for the Do variants. It prints its address on standard output and
// serves until killed.
func serve(mode string) error {
	var h http.Handler
	hello := func(name string) helloResponse { return helloResponse{Message: "Hello, " + name + "!"} }
	plainGet := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(hello(r.PathValue("name")))
	}
	switch mode {
	case "rpc":
		srv := rpc.NewServer()
		rpc.Register(srv, "Greeter.Hello", func(_ context.Context, req *helloRequest) (*helloResponse, error) {
			rsp := hello(req.Name)
			return &rsp, nil
		})
		mux := http.NewServeMux()
		mux.Handle(rpc.PathPrefix, srv)
		mux.HandleFunc("GET /hello/{name}", plainGet)
		h = budget.Inbound(budget.ServerPolicy{})(mux)
	case "mux":
		mux := http.NewServeMux()
		mux.HandleFunc("POST "+rpc.Path("Greeter.Hello"), func(w http.ResponseWriter, r *http.Request) {
			var req helloRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", rpc.ContentType)
			_ = json.NewEncoder(w).Encode(hello(req.Name))
		})
		mux.HandleFunc("GET /hello/{name}", plainGet)
		h = mux
	default:
		return fmt.Errorf("-serve must be rpc or mux, got %q", mode)
	}
	root := http.NewServeMux()
	root.Handle("/", h)
	root.HandleFunc("GET "+statsPath, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(selfStats())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	return (&http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
}
