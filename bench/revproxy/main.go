// Command revproxy is the load test's Go baseline: net/http/httputil's
// ReverseProxy in front of one backend, what "a reverse proxy in Go, no
// more" costs; bench/load.sh compares the gateway with it.
//
// By default its transport is tuned the way a fair comparison needs: it
// keeps up to -idle idle connections to the backend (bench/load.sh passes
// at least the load's concurrency), with the gateway's pool settings
// (256 connections at most, 30 s idle timeout, 30 s TCP keep-alive, no
// compression). With -transport default it uses http.DefaultTransport as
// NewSingleHostReverseProxy does, which keeps at most 2 idle connections
// per backend: under 64 concurrent clients it dials and closes a connection
// for most requests. That row is kept in the report only as a labelled
// extra, never as the baseline.
//
//	revproxy -listen 127.0.0.1:0 -target http://127.0.0.1:9101 -idle 128
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
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on; port 0 lets the kernel pick")
	target := flag.String("target", "", "backend base URL, such as http://127.0.0.1:9101 (required)")
	transport := flag.String("transport", "tuned", "tuned: keep -idle idle connections to the backend; default: http.DefaultTransport (2 idle connections)")
	idle := flag.Int("idle", 256, "idle connections kept to the backend with -transport tuned; at least the load's concurrency")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	rt, err := roundTripper(*transport, *idle)
	if err == nil {
		err = run(*listen, *target, rt, logger)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "revproxy:", err)
		os.Exit(1)
	}
}

// roundTripper returns the transport named by -transport.
func roundTripper(name string, idle int) (http.RoundTripper, error) {
	switch name {
	case "default":
		return http.DefaultTransport, nil
	case "tuned":
		if idle < 1 {
			return nil, fmt.Errorf("-idle must be at least 1, got %d", idle)
		}
		return &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        idle,
			MaxIdleConnsPerHost: idle,
			MaxConnsPerHost:     max(idle, 256),
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}, nil
	}
	return nil, fmt.Errorf("-transport must be tuned or default, got %q", name)
}

func run(listen, target string, rt http.RoundTripper, logger *slog.Logger) error {
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
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = rt
	srv := &http.Server{Handler: proxy}
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
