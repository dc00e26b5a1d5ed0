package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/registry"
)

// newNames returns what gives the static registry st its nodes: one node
// for each address a node's host name resolves to, looked up again every
// registry.dns_refresh (serve runs it), asking registry.dns_server when
// set. Each change of a name's addresses is logged at INFO, a failing
// lookup at WARN (once, until it changes), the last good addresses serving.
func newNames(st *registry.Static, cfg *config.Config, logger *slog.Logger) *registry.Names {
	return registry.NewNames(st, registry.NamesOptions{
		Resolver: dnsResolver(cfg.Registry.DNSServer),
		OnChange: func(host string, addrs []netip.Addr, err error) {
			list := make([]string, len(addrs))
			for i, a := range addrs {
				list[i] = a.String()
			}
			if err != nil {
				logger.Warn("a static node's host name did not resolve; its last addresses keep serving",
					slog.String("host", host), slog.Any("addresses", list), slog.String("error", err.Error()))
				return
			}
			logger.Info("a static node's host name resolved", slog.String("host", host), slog.Any("addresses", list))
		},
	})
}

// dnsResolver returns the system's resolver, or one that asks server
// (after /etc/hosts, as the system's does).
func dnsResolver(server string) registry.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}
