// Command floor is the least proxy the gateway's own HTTP halves make:
// package server in front, upstream/h1 behind, and between them a handler
// that sends the request on as it came (its path and query, its header
// fields as they are) and copies the answer back, through a pooled buffer
// as the router does. No routing, budget, policies, metrics or logs; it
// removes no hop-by-hop field and adds no X-Forwarded-For, which a real
// proxy must. bench/load.sh runs it as the "floor" target: the gateway's
// CPU per request less the floor's is what its own work costs (the router,
// the upstream client's policies, the middleware, the metrics), and the
// floor over nginx's is as low as the gateway could go on these halves.
//
//	floor -listen 127.0.0.1:0 -target 127.0.0.1:9101
//
// It runs at the gateway's GC target (400) unless GOGC is set, logs one
// JSON line {"msg":"listening","address":"HOST:PORT"} on standard error
// once it accepts connections, and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/upstream/h1"
)

// gcPercent is cmd/gateway's GC target, so that the two collect alike.
const gcPercent = 400

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on; port 0 lets the kernel pick")
	target := flag.String("target", "", "backend host:port, such as 127.0.0.1:9101 (required)")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if err := run(*listen, *target, slog.New(slog.NewJSONHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(listen, target string, logger *slog.Logger) error {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return fmt.Errorf("-target must be host:port, got %q", target)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()
	srv := &server.Server{Handler: proxy(tr, target), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	logger.Info("listening", "address", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}

// bufs holds the buffers answers are copied through, as the router pools
// its own: io.Copy would allocate 32 KiB an answer.
var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// proxy sends each request on to target as it came, and its answer back;
// 502 when the round trip fails.
func proxy(tr *h1.Transport, target string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.WithContext(r.Context())
		out.URL = &url.URL{Scheme: "http", Host: target, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		out.Host, out.RequestURI = "", ""
		resp, err := tr.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := bufs.Get().(*[]byte)
		_, _ = io.CopyBuffer(w, resp.Body, *buf)
		bufs.Put(buf)
	})
}
