// Command gateway is Sluice's edge API gateway. It serves the routes of a
// YAML configuration file, or of the embedded default when none is given,
// and checks and explains configuration files:
//
//	gateway [serve] [-config FILE|consul://HOST:PORT/KEY] [-listen ADDR] [-admin-listen ADDR] [-log-level info] [-print-default]
//	gateway push FILE -consul HOST:PORT -key KEY   validate, then write to Consul KV
//	gateway validate FILE...     check files; - reads standard input
//	gateway routes FILE          the route table, in match order
//	gateway schema [-o FILE]     the configuration's JSON Schema
//	gateway healthcheck [-url URL] [-timeout 2s]
//
// A word it does not know, or an argument left over after the flags, is a
// usage error (exit status 2); a file with errors exits 1.
//
// The configuration is reloaded when its file changes (fsnotify) or its
// Consul KV key changes (blocking queries), and on SIGHUP; a version with
// errors is reported and the running configuration keeps serving. push
// validates a file and writes it to Consul KV. SIGTERM and SIGINT
// mark the gateway not ready, then drain in-flight requests for up to the
// configured shutdown grace; a second SIGTERM or SIGINT ends the process at
// once.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

//go:generate go run . schema -o ../../docs/sluice.schema.json

func main() {
	ctx, stop := stopContext()
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	tuneGC(os.Getenv)
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, profiling: sampleHeap,
		memory: func(ctx context.Context, logger *slog.Logger) { limitMemory(ctx, logger, processMemory) }}
	code := exitStatus(c.run(ctx, os.Args[1:], hup), os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args with the process's standard input and
// environment; see cli.run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, reload <-chan os.Signal) error {
	c := &cli{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return c.run(ctx, args, reload)
}

// stopContext returns a context that the first SIGTERM or SIGINT ends. The
// handler is removed before the context ends, so that a second signal has
// its default effect: the process ends at once, cutting the drain short (a
// drain may take drain_delay and twice the shutdown grace), as an operator
// who signals twice means. signal.NotifyContext would keep catching, and
// ignoring, every later signal until the drain is over.
func stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-sig:
		case <-ctx.Done():
		}
		signal.Stop(sig)
		cancel()
	}()
	return ctx, cancel
}
