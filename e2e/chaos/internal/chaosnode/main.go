// Command chaosnode is the backend the chaos suite (package e2e/chaos) runs
// behind the gateway: a node whose service time, failure rate and
// concurrency are set by flags and can be changed while it runs, that can
// stall every request at once for a moment now and then (-pause, as a
// garbage collector's pause or a container's CPU quota does), that
// registers itself in Consul, and that keeps a log of the writes it makes so
// the suite can tell lost, duplicated and failed-but-written requests apart.
//
// It serves, behind budget.Inbound:
//
//	GET  /work/{id}   after the service time, 200 {"node","id","hop","retries"};
//	                  with -next, the same request is made to that service
//	                  through an upstream.Client and its answer passed back
//	POST /write/{id}  logs "recv ID", waits the service time, logs "done ID"
//	                  to the write log, then answers as /work does
//
// and, outside the budget and the counters:
//
//	GET  /_chaos/stats             {"requests","failed","first_request_ns",...}
//	POST /_chaos/set?delay=&fail=&cut=  changes the service time, failure rate
//	                                    or share of answers cut short mid-body
//
// The process logs JSON lines on standard error: "listening" (address),
// "registered" and "stopped", each with at_ns, the Unix time in nanoseconds.
//
//	chaosnode -listen 127.0.0.1:0 -consul 127.0.0.1:8500 -service work -writes w.log
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/upstream"
)

func main() {
	var (
		listen      = flag.String("listen", "127.0.0.1:0", "address to serve on")
		consulAddr  = flag.String("consul", "", "Consul agent `address`: register there, and find -next there")
		service     = flag.String("service", "work", "the service name to register as")
		ttl         = flag.Duration("ttl", 0, "TTL of the Consul check; zero means the registry's default")
		drain       = flag.Duration("propagation-delay", -1, "wait after deregistering before draining; negative means the default")
		delay       = flag.Duration("delay", 0, "service time of every request")
		fail        = flag.Float64("fail", 0, "share of requests answered 503, at random")
		concurrency = flag.Int("concurrency", 0, "requests served at once; more wait their turn (0: no limit)")
		writes      = flag.String("writes", "", "`file` the write log is appended to (POST /write)")
		next        = flag.String("next", "", "`service` that /work calls, through Consul, instead of working itself")
		pause       = flag.Duration("pause", 0, "every -pause-every, hold every answer for this long (0: never)")
		pauseEvery  = flag.Duration("pause-every", time.Second, "how often -pause holds the answers")
	)
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(logger, *listen, *consulAddr, *service, *ttl, *drain, *writes, *next,
		settings{delay: *delay, fail: *fail}, *concurrency, *pause, *pauseEvery); err != nil {
		fmt.Fprintln(os.Stderr, "chaosnode:", err)
		os.Exit(1)
	}
}

// run serves until SIGTERM, then withdraws from Consul and drains.
func run(logger *slog.Logger, listen, consulAddr, service string, ttl, drain time.Duration,
	writes, next string, s settings, concurrency int, pause, pauseEvery time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var client *api.Client
	if consulAddr != "" {
		var err error
		if client, err = api.NewClient(&api.Config{Address: consulAddr}); err != nil {
			return err
		}
	}
	n := &node{}
	n.set.Store(&s)
	if concurrency > 0 {
		n.slots = make(chan struct{}, concurrency)
	}
	if pause > 0 {
		go n.pauses(ctx, pause, max(pauseEvery, pause))
	}
	if writes != "" {
		f, err := os.OpenFile(writes, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		n.log = f
	}
	if next != "" {
		if client == nil {
			return errors.New("-next needs -consul")
		}
		n.next = next
		n.up = upstream.New(registry.NewCache(consul.New(client))) // every setting at its default
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	n.addr = ln.Addr().String()
	srv := &http.Server{Handler: n.handler(), ReadHeaderTimeout: 10 * time.Second}
	logger.Info("listening", slog.String("address", n.addr), slog.Int64("at_ns", time.Now().UnixNano()))
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()

	var ann *consul.Announcement
	if client != nil {
		ann, err = consul.New(client).Announce(context.Background(), registry.Registration{
			Node: registry.Node{Service: service, Address: n.addr},
			TTL:  ttl,
		}, consul.WithPropagationDelay(drain), consul.WithErrorHandler(func(err error) {
			logger.Warn("consul heartbeat", slog.String("error", err.Error()))
		}))
		if err != nil {
			return fmt.Errorf("registering in consul: %w", err)
		}
		logger.Info("registered", slog.String("id", ann.ID()), slog.Int64("at_ns", time.Now().UnixNano()))
	}

	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.Int64("at_ns", time.Now().UnixNano()))
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ann != nil {
		err = ann.Shutdown(shutdown, srv)
	} else {
		err = srv.Shutdown(shutdown)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped", slog.Int64("at_ns", time.Now().UnixNano()))
	return nil
}
