// Command companion measures what the companion package costs a backend on
// every hop, against the plain standard library doing the same work, in the
// same run:
//
//   - the client side: upstream.Client's Call (JSON RPC) and Do (plain
//     HTTP) against an http.Client on a tuned http.Transport (idle
//     connections ≥ the concurrency) doing the same requests by hand, all
//     to the same bare net/http backend;
//   - the server side: budget.Inbound in front of rpc.Server against a bare
//     http.ServeMux handler that decodes and encodes the same JSON, both
//     driven by the same tuned http.Client.
//
// Each side's cost is measured in the process that pays it: the client
// variants in this process (the backend is a child process), the server
// variants in their child (which reports its own CPU time and allocations).
// For every variant and round it runs a closed loop (-concurrency callers,
// -duration) for CPU per call and allocations per call, then an open loop at
// -rate calls/s for p50 and p99, and prints the medians over -rounds
// rounds, with each variant's ratio to its standard-library baseline taken
// within each round. bench/README.md says how to read it.
//
//	go run ./bench/companion                 # 3 rounds, 3 s + 3 s per variant
//	go run ./bench/companion -rounds 5 -duration 10s
//
// Children run with GOMAXPROCS=1 and, where taskset exists and there are two
// CPUs or more, on CPU 1; the driver runs with GOMAXPROCS=-procs (1).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds of every variant; the report gives medians")
	duration := flag.Duration("duration", 3*time.Second, "length of each closed-loop and each fixed-rate run")
	concurrency := flag.Int("concurrency", 8, "callers of the closed loop, and idle connections of every client")
	rate := flag.Float64("rate", 2000, "calls per second of the fixed-rate run")
	procs := flag.Int("procs", 1, "GOMAXPROCS of the driver (the client variants' process)")
	pin := flag.Bool("pin", true, "run the children on CPU 1 with taskset when it exists and there are 2 CPUs or more")
	if mode := os.Getenv(serveEnv); mode != "" {
		if err := serve(mode); err != nil {
			fmt.Fprintln(os.Stderr, "companion:", err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
	cfg := config{rounds: *rounds, duration: *duration, concurrency: *concurrency, rate: *rate, pin: *pin}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "companion:", err)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	rep, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "companion:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout, cfg)
}

// serveEnv, when set in the environment, makes the process the child
// backend of that mode (rpc or mux) instead of the driver.
const serveEnv = "SLUICE_COMPANION_SERVE"

// config is the run's settings.
type config struct {
	rounds      int
	duration    time.Duration
	concurrency int
	rate        float64
	pin         bool
}

func (c config) check() error {
	switch {
	case c.rounds < 1:
		return fmt.Errorf("-rounds must be at least 1")
	case c.duration <= 0:
		return fmt.Errorf("-duration must be positive")
	case c.concurrency < 1 || c.concurrency > 1024:
		return fmt.Errorf("-concurrency must be 1 to 1024")
	case !(c.rate > 0 && c.rate <= 100000):
		return fmt.Errorf("-rate must be above 0 and at most 100000")
	}
	return nil
}
