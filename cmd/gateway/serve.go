package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/middleware"
)

// Environment variables that give -listen and -admin-listen their
// defaults; the container image sets them to listen on every interface.
const (
	envListen      = "SLUICE_LISTEN"
	envAdminListen = "SLUICE_ADMIN_LISTEN"
)

// serve runs the gateway: the default command.
func (c *cli) serve(ctx context.Context, args []string, reload <-chan os.Signal) error {
	fs := c.flags("serve")
	file := fs.String("config", "", "configuration `file`, or consul://HOST:PORT/KEY for a Consul KV key; empty serves the embedded default")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	printDefault := fs.Bool("print-default", false, "print the embedded default configuration and exit")
	accessLog := fs.Bool("access-log", true, "log one line per request (at info level)")
	pprofOn := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener")
	listen := fs.String("listen", c.getenv(envListen),
		"`host:port` the embedded default's routes listen on instead of "+config.DefaultListen+" (default $"+envListen+")")
	adminListen := fs.String("admin-listen", c.getenv(envAdminListen),
		"`host:port` the embedded default's admin listener uses (default $"+envAdminListen+")")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArguments("serve", rest); err != nil {
		return err
	}
	if *printDefault {
		_, err := c.stdout.Write(config.DefaultYAML())
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	// -listen and -admin-listen set the addresses of the embedded default
	// only: a file says where it listens itself, and the variables the
	// image sets must not move it.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *file != "" && (set["listen"] || set["admin-listen"]) {
		return usagef("serve: -listen and -admin-listen apply to the embedded default: with -config, set listeners and admin in the file")
	}
	for name, addr := range map[string]string{"-listen": *listen, "-admin-listen": *adminListen} {
		if _, _, err := net.SplitHostPort(addr); addr != "" && err != nil {
			return usagef("serve: %s %q: want host:port", name, addr)
		}
	}
	out := newLogOutput(c.stdout)
	defer closeLogOutput(out)
	opts := &slog.HandlerOptions{Level: lvl}
	logger := slog.New(slog.NewJSONHandler(out.Priority(), opts))
	if c.memory != nil {
		c.memory(ctx, logger)
	}

	src, err := newConfigSource(*file)
	if err != nil {
		return err
	}
	if src.kind == sourceDefault {
		base := src.load
		src.load = func(ctx context.Context) loaded {
			l := base(ctx)
			if *listen != "" {
				l.cfg.Listeners = []config.Listener{{Address: *listen}}
			}
			if *adminListen != "" && l.cfg.Admin != nil {
				l.cfg.Admin.Address = *adminListen
			}
			return l
		}
	}
	first := src.loadAtStart(ctx)
	if first.err != nil {
		return first.err
	}
	load := func() (*config.Config, error) {
		l := src.load(ctx)
		return l.cfg, l.err
	}
	gw, err := newGateway(first.cfg, logger)
	if err != nil {
		return err
	}
	registerLogDrops(gw.promReg, out)
	gw.src = src
	gw.status.sameIndex(first.index)
	gw.accessLogger = slog.New(middleware.NewJSONHandler(out, opts))
	if !*accessLog {
		gw.accessLogger = nil
	}
	gw.pprof = *pprofOn
	if c.profiling != nil {
		c.profiling(*pprofOn)
	}
	return gw.serve(ctx, reload, load)
}
