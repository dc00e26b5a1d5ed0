// Package demo holds what the example services share: flags for their
// address and their peers, the budget report each answer carries, and a
// server that drains on SIGTERM.
package demo

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
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/upstream"
)

// Budget is what a service reports of the budget it received.
type Budget struct {
	Service    string  `json:"service"`
	Node       string  `json:"node"`
	ReceivedMs float64 `json:"received_ms"`
	LeftMs     float64 `json:"left_ms"`
	Hop        int     `json:"hop"`
	Retries    int     `json:"retries"`
}

// Report returns the budget report of service for ctx's request.
func Report(ctx context.Context, service string) Budget {
	b := Budget{Service: service}
	if a, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr); ok {
		b.Node = a.String()
	}
	if info, ok := budget.FromContext(ctx); ok {
		b.ReceivedMs = ms(info.Received)
		b.LeftMs = ms(info.Remaining(time.Now()))
		b.Hop, b.Retries = info.Hop, info.Retries
	}
	return b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Peers is a flag of the form name=host:port,name=host:port naming the
// nodes of the services an example calls.
type Peers []*registry.Node

// String implements fmt.Stringer.
func (p *Peers) String() string {
	var parts []string
	for _, n := range *p {
		parts = append(parts, n.Service+"="+n.Address)
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value.
func (p *Peers) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("peer %q: want name=host:port", part)
		}
		*p = append(*p, &registry.Node{Service: name, Address: addr})
	}
	return nil
}

// Flags every example takes, besides its own.
var (
	consulAddr = flag.String("consul", "", "Consul agent `address` (host:port): register there and discover peers there instead of -peers")
	version    = flag.String("version", "1.0.0", "the version this node announces in Consul")
	ttl        = flag.Duration("ttl", 0, "TTL of the node's Consul health check; zero means 10s")
	drain      = flag.Duration("propagation-delay", -1, "how long to wait after deregistering before draining; negative means 3s")
)

// promReg and observed are the example's metrics: the budget it receives
// and what its calls to its peers do, under the gateway's names (package
// metrics), served at /metrics.
var (
	promReg  = prometheus.NewRegistry()
	observed = metrics.NewUpstream(promReg)
)

func consulClient() (*api.Client, error) {
	return consul.NewClient(&api.Config{Address: *consulAddr})
}

// Client returns a companion client that finds peers in Consul when -consul
// is set, else in a static registry of peers.
func Client(peers Peers) (*upstream.Client, error) {
	if *consulAddr != "" {
		c, err := consulClient()
		if err != nil {
			return nil, err
		}
		return upstream.New(registry.NewCache(consul.New(c)), upstream.WithTracer(tracer), upstream.WithObserver(observed)), nil
	}
	for _, n := range peers {
		if err := n.Validate(); err != nil {
			return nil, err
		}
	}
	// A peer named by a host name (a Compose service's) is a node for each
	// of its replicas' addresses, looked up again every 5 s.
	reg, _ := registry.NewStatic()
	names := registry.NewNames(reg, registry.NamesOptions{})
	byService := map[string][]*registry.Node{}
	for _, n := range peers {
		byService[n.Service] = append(byService[n.Service], n)
	}
	for service, nodes := range byService {
		names.Set(context.Background(), service, nodes)
	}
	go names.Run(context.Background(), registry.DefaultDNSRefresh)
	return upstream.New(reg, upstream.WithTracer(tracer), upstream.WithObserver(observed)), nil
}

// Logger returns the examples' structured logger.
func Logger(service string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, nil)).With(slog.String("service", service))
}

// Handler returns what an example serves: its metrics at /metrics, and
// every other path by h behind the budget middleware, whose budgets the
// metrics record by hop, and, when -otlp asks, the tracing middleware.
func Handler(h http.Handler, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
	h = budget.Inbound(budget.ServerPolicy{
		Max: 30 * time.Second,
		OnBadHeader: func(r *http.Request, err error) {
			logger.Warn("bad budget header; using the default", slog.String("error", err.Error()))
		},
		Observe: observed.Inbound,
	})(h)
	if tracer != nil {
		h = tracer.Inbound(h) // outside the budget: refusals are traced too
	}
	mux.Handle("/", h)
	return mux
}

// Serve serves h on addr behind the budget middleware until SIGTERM or
// SIGINT, then drains in-flight requests for up to 10 seconds. With -consul,
// the node registers itself as service with a TTL check and a heartbeat,
// and on SIGTERM deregisters first, waits for gateways to notice, and only
// then stops accepting and drains. Each onShutdown function then runs, with
// the drain's context: streams, which the server no longer tracks once they
// have taken over their connections, are closed there
// (rpc.StreamServer.Shutdown).
func Serve(service, addr string, h http.Handler, logger *slog.Logger, onShutdown ...func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           Handler(h, logger),
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Info("listening", slog.String("address", ln.Addr().String()))
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	var ann *consul.Announcement
	if *consulAddr != "" {
		c, err := consulClient()
		if err != nil {
			return err
		}
		ann, err = consul.New(c).Announce(context.Background(), registry.Registration{
			Node: registry.Node{Service: service, Address: ln.Addr().String(), Version: *version},
			TTL:  *ttl,
		}, consul.WithPropagationDelay(*drain), consul.WithErrorHandler(func(err error) {
			logger.Warn("consul heartbeat", slog.String("error", err.Error()))
		}))
		if err != nil {
			return fmt.Errorf("registering in consul: %w", err)
		}
		logger.Info("registered", slog.String("id", ann.ID()), slog.String("consul", *consulAddr))
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ann != nil {
		err = ann.Shutdown(shutdown, srv)
	} else {
		err = srv.Shutdown(shutdown)
	}
	for _, f := range onShutdown {
		if ferr := f(shutdown); ferr != nil {
			logger.Warn("shutting down", slog.String("error", ferr.Error()))
		}
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// Main parses flags, starts tracing as service when -otlp asks, and runs
// serve, exiting with a message on error.
func Main(service string, serve func() error) {
	flag.Parse()
	stop, err := startTracing(service)
	if err == nil {
		err = serve()
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
