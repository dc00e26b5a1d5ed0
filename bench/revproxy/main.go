// Command revproxy is the load test's baseline proxy: net/http/httputil's
// ReverseProxy as NewSingleHostReverseProxy builds it, with every default
// (http.DefaultTransport, so at most 2 idle connections kept per backend),
// in front of one backend. It is what "a reverse proxy in Go, no more"
// costs; bench/load.sh compares the gateway with it.
//
//	revproxy -listen 127.0.0.1:0 -target http://127.0.0.1:9101
//
// It logs one JSON line {"msg":"listening","address":"HOST:PORT"} on
// standard error once it accepts connections, and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on; port 0 lets the kernel pick")
	target := flag.String("target", "", "backend base URL, such as http://127.0.0.1:9101 (required)")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(*listen, *target, logger); err != nil {
		fmt.Fprintln(os.Stderr, "revproxy:", err)
		os.Exit(1)
	}
}

func run(listen, target string, logger *slog.Logger) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-target must be an http:// or https:// URL with a host, got %q", target)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(u)}
	logger.Info("listening", slog.String("address", ln.Addr().String()), slog.String("target", u.String()))
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
