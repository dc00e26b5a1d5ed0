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

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// Budget is what a service reports of the budget it received.
type Budget struct {
	Service    string  `json:"service"`
	ReceivedMs float64 `json:"received_ms"`
	LeftMs     float64 `json:"left_ms"`
	Hop        int     `json:"hop"`
	Retries    int     `json:"retries"`
}

// Report returns the budget report of service for ctx's request.
func Report(ctx context.Context, service string) Budget {
	b := Budget{Service: service}
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

// Client returns a companion client that finds peers in a static registry.
func Client(peers Peers) (*upstream.Client, error) {
	reg, err := registry.NewStatic(peers...)
	if err != nil {
		return nil, err
	}
	return upstream.New(reg), nil
}

// Logger returns the examples' structured logger.
func Logger(service string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, nil)).With(slog.String("service", service))
}

// Serve serves h on addr behind the budget middleware until SIGTERM or
// SIGINT, then drains in-flight requests for up to 10 seconds.
func Serve(addr string, h http.Handler, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: budget.Inbound(budget.ServerPolicy{
			Max: 30 * time.Second,
			OnBadHeader: func(r *http.Request, err error) {
				logger.Warn("bad budget header; using the default", slog.String("error", err.Error()))
			},
		})(h),
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Info("listening", slog.String("address", ln.Addr().String()))
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Main parses flags and runs serve, exiting with a message on error.
func Main(serve func() error) {
	flag.Parse()
	if err := serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
