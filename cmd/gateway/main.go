// Command gateway is Sluice's edge API gateway. It serves the routes of a
// YAML configuration file, or of the embedded default when none is given.
//
//	gateway [-config FILE|consul://HOST:PORT/KEY] [-log-level info] [-print-default]
//	gateway push FILE -consul HOST:PORT -key KEY
//
// The configuration is reloaded when its file changes (fsnotify) or its
// Consul KV key changes (blocking queries), and on SIGHUP; a version with
// errors is reported and the running configuration keeps serving. push
// validates a file and writes it to Consul KV. SIGTERM and SIGINT
// mark the gateway not ready, then drain in-flight requests for up to the
// configured shutdown grace.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, hup); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, reload <-chan os.Signal) error {
	if len(args) > 0 && args[0] == "push" {
		return push(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "configuration `file`, or consul://HOST:PORT/KEY for a Consul KV key; empty serves the embedded default")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	printDefault := fs.Bool("print-default", false, "print the embedded default configuration and exit")
	accessLog := fs.Bool("access-log", true, "log one line per request (at info level)")
	pprofOn := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printDefault {
		_, err := stdout.Write(config.DefaultYAML())
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: lvl}))

	src, err := newConfigSource(*file)
	if err != nil {
		return err
	}
	first := src.loadAtStart(ctx)
	if first.err != nil {
		return first.err
	}
	load := func() (*config.Config, error) {
		l := src.load(ctx)
		return l.cfg, l.err
	}
	cfg := first.cfg
	gw, err := newGateway(cfg, logger)
	if err == nil {
		gw.src = src
		gw.status.sameIndex(first.index)
	}
	if err == nil && !*accessLog {
		gw.accessLogger = nil
	}
	if err == nil {
		gw.pprof = *pprofOn
	}
	if err != nil {
		return err
	}
	return gw.serve(ctx, reload, load)
}
