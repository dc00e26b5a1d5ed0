// Command gateway is Sluice's edge API gateway. It serves the routes of a
// YAML configuration file, or of the embedded default when none is given.
//
//	gateway [-config FILE] [-log-level info] [-print-default]
//
// SIGHUP reloads the configuration file's routes; a file with errors is
// reported and the running configuration keeps serving. SIGTERM and SIGINT
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
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "configuration `file`; empty serves the embedded default")
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

	load := func() (*config.Config, error) {
		if *file == "" {
			return config.Default(), nil
		}
		return config.Load(*file)
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	gw, err := newGateway(cfg, logger)
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
