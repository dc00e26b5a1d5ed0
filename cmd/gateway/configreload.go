package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/sluicehq/sluice/config"
)

// sourceKind names the source of a configuration by its name.
func sourceKind(name string) string {
	switch {
	case strings.HasPrefix(name, consulScheme):
		return sourceConsul
	case name == defaultName:
		return sourceDefault
	}
	return sourceFile
}

// watchConfig starts watching the configuration source, unless the
// configuration turns it off, and returns the channel its versions arrive
// on (nil, which never delivers, when nothing is watched). The watch ends
// with ctx.
func (g *gateway) watchConfig(ctx context.Context) <-chan loaded {
	if g.src == nil || g.src.watch == nil || g.cfg.Watch.Disabled {
		g.status.setWatch("off")
		return nil
	}
	mode := "fsnotify"
	if g.src.kind == sourceConsul {
		mode = "blocking-query"
	}
	g.status.setWatch(mode)
	applied, _ := g.status.current()
	since := loaded{hash: applied, index: g.status.appliedIndex()}
	out := make(chan loaded)
	started, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		if err := g.src.watch(ctx, since, g.cfg.Watch.Debounce, out, g.watchError, func() { close(started) }); err != nil {
			g.status.setWatch("off")
			g.logger.Error("not watching the configuration; SIGHUP reloads it", slog.String("error", err.Error()))
		}
	}()
	// The gateway says it is ready once the watch is: a change written
	// right after that is seen.
	select {
	case <-started:
	case <-ended:
	}
	return out
}

// watchError records a failed read of the configuration's watch, or its
// recovery (nil).
func (g *gateway) watchError(err error) {
	if err == nil {
		g.status.watchOK()
		g.logger.Info("configuration watch recovered", slog.String("source", g.src.name))
		return
	}
	g.status.watchError(err)
	g.logger.Warn("configuration watch failed; retrying, the running configuration keeps serving", slog.String("error", err.Error()))
}

// restartOnly names the settings of next that differ from those the
// gateway started with, cfg, and that only a restart applies
// (docs/configuration.md, Reload): a reload that changes them serves its
// routes, but the process goes on listening, draining and calling
// upstream as cfg says, which the version's hash alone would hide. Values
// are compared as JSON: what the file says, not what was loaded from it.
func restartOnly(cfg, next *config.Config) []string {
	var out []string
	for _, s := range []struct {
		name      string
		was, next any
	}{
		{"listeners", cfg.Listeners, next.Listeners},
		{"admin", cfg.Admin, next.Admin},
		{"shutdown_grace", cfg.ShutdownGrace, next.ShutdownGrace},
		{"drain_delay", cfg.DrainDelay, next.DrainDelay},
		{"registry", []any{cfg.Registry.Kind, cfg.Registry.Consul, cfg.Registry.DNSRefresh, cfg.Registry.DNSServer},
			[]any{next.Registry.Kind, next.Registry.Consul, next.Registry.DNSRefresh, next.Registry.DNSServer}},
		{"upstream", cfg.Upstream, next.Upstream},
		{"services", cfg.Services, next.Services},
		{"tracing", cfg.Tracing, next.Tracing},
		{"watch", cfg.Watch, next.Watch},
		{"limits.max_backend_header_bytes", cfg.Limits.MaxBackendHeaderBytes, next.Limits.MaxBackendHeaderBytes},
		{"limits.max_client_connections", cfg.Limits.MaxClientConnections, next.Limits.MaxClientConnections},
		{"limits.max_client_connections_per_address", cfg.Limits.MaxClientConnectionsPerAddress, next.Limits.MaxClientConnectionsPerAddress},
	} {
		a, errA := json.Marshal(s.was)
		b, errB := json.Marshal(s.next)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			out = append(out, s.name)
		}
	}
	return out
}

// applyLoaded applies a version of the configuration, or records and logs
// why it cannot serve. Unless forced (SIGHUP, which also reads key files
// again), a version with the text that serves, or with the text last
// refused, changes nothing.
func (g *gateway) applyLoaded(l loaded, forced bool) {
	applied, refused := g.status.current()
	attrs := []any{slog.String("source", g.status.source), slog.String("hash", l.hash)}
	if l.index != 0 {
		attrs = append(attrs, slog.Uint64("index", l.index))
	}
	err := l.err
	if err == nil {
		if !forced && l.hash == applied {
			g.status.sameIndex(l.index)
			if g.status.clearRefused() {
				g.logger.Info("configuration source holds the version serving again; the last refusal no longer applies", attrs...)
			}
			return
		}
		if err = g.install(l.cfg); err == nil {
			g.dropStatic(l.cfg)
			g.unwatchUnrouted(l.cfg)
			pending := restartOnly(g.cfg, l.cfg)
			g.status.apply(l.hash, l.index, true, pending...)
			level, attrs := slog.LevelInfo, append(attrs, slog.Int("routes", len(l.cfg.Routes)),
				slog.String("note", "listeners, registry and upstream settings take effect on restart"))
			if len(pending) > 0 {
				level, attrs = slog.LevelWarn, append(attrs, slog.Any("restart_required", pending))
			}
			g.logger.Log(context.Background(), level, "configuration reloaded", attrs...)
			return
		}
	}
	if !forced && l.hash != "" && l.hash == refused {
		return // reported already
	}
	result := reloadRefused
	var ce *config.Error
	if l.cfg == nil && !errors.As(err, &ce) {
		result = reloadError
	}
	g.status.refuse(result, l.hash, l.index, err)
	g.logger.Error("configuration reload failed; the running configuration keeps serving",
		append(attrs, slog.String("error", err.Error()), slog.String("result", result))...)
}
