package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/registry"
)

// newNodeHealth returns what leaves the static nodes that fail their
// service's health_check out of the nodes the client picks from (serve runs
// its checker), or nil when no service has a check. Each change of a node's
// health is logged once (WARN when it leaves, INFO when it comes back), and
// so is a service all of whose nodes fail, served all the same.
func newNodeHealth(st *registry.Static, cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer,
	tlsConfigs map[string]*tls.Config) *registry.Health {
	checks := cfg.HealthChecks()
	if len(checks) == 0 {
		return nil
	}
	m := &nodeHealthMetrics{checks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_health_checks_total",
		Help: "Active health checks of static nodes, by service and result (pass or fail).",
	}, []string{"service", "result"}),
		healthy: prometheus.NewDesc("sluice_health_check_healthy_nodes",
			"Nodes of a service with a health_check that pass it now.", []string{"service"}, nil)}
	h := registry.NewHealth(st, registry.HealthOptions{
		Checks: checks,
		Probe:  newProber(tlsConfigs).probe,
		OnCheck: func(service string, err error) {
			result := "pass"
			if err != nil {
				result = "fail"
			}
			m.checks.WithLabelValues(service, result).Inc()
		},
		OnChange: func(n *registry.Node, healthy bool, err error, healthyNodes, nodes int) {
			attrs := []any{slog.String("service", n.Service), slog.String("node", n.Address),
				slog.Int("healthy_nodes", healthyNodes), slog.Int("nodes", nodes)}
			if healthy {
				logger.Info("a node passes its health check again; it serves", attrs...)
				return
			}
			logger.Warn("a node fails its health check; it serves no more requests until it passes",
				append(attrs, slog.String("error", err.Error()))...)
		},
		OnFailOpen: func(service string, open bool) {
			if open {
				logger.Warn("every node of a service fails its health check; all of them serve",
					slog.String("service", service))
				return
			}
			logger.Info("a node of a service passes its health check again; the failing ones serve no more",
				slog.String("service", service))
		},
	})
	m.health = h
	for service := range checks {
		m.checks.WithLabelValues(service, "pass")
		m.checks.WithLabelValues(service, "fail")
	}
	reg.MustRegister(m.checks, m)
	return h
}

// prober makes the probes of the health checks: over plain HTTP, or over
// TLS with the handshake of the service's requests (services.<name>.tls).
type prober struct {
	tls map[string]*http.Client // by service
}

func newProber(tlsConfigs map[string]*tls.Config) *prober {
	p := &prober{tls: make(map[string]*http.Client, len(tlsConfigs))}
	for service, c := range tlsConfigs {
		p.tls[service] = newProbeClient(c)
	}
	return p
}

// newProbeClient returns the client of the probes: a connection of each
// probe's own, an answer's header within the bound of the requests', no
// redirect followed.
func newProbeClient(c *tls.Config) *http.Client {
	return &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true, MaxResponseHeaderBytes: 64 << 10, TLSClientConfig: c},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var probeClient = newProbeClient(nil)

// probe asks n for path with GET, without following a redirect: a 2xx
// passes. A redirect fails: a health endpoint that redirects is more
// likely a wrong path (a missing trailing slash) or a login page than a
// health report. Each probe has a connection of its own, so that it also
// checks that the node accepts them (and, over TLS, that its certificate
// verifies).
func (p *prober) probe(ctx context.Context, n *registry.Node, path string) error {
	client, scheme := probeClient, "http://"
	if c, ok := p.tls[n.Service]; ok {
		client, scheme = c, "https://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+n.Address+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "sluice-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// An answer cut off, or its body stalled past the timeout, is no
	// answer within it; one longer than 4 KiB is read that far.
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", path, resp.Status)
	}
	if err != nil {
		return fmt.Errorf("%s answered %s, then its body failed: %w", path, resp.Status, err)
	}
	return nil
}

// nodeHealthMetrics exports the checks' results and, at each scrape, the
// healthy nodes of each checked service.
type nodeHealthMetrics struct {
	health  *registry.Health
	checks  *prometheus.CounterVec
	healthy *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (m *nodeHealthMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.healthy }

// Collect implements prometheus.Collector.
func (m *nodeHealthMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, st := range m.health.Status() {
		ch <- prometheus.MustNewConstMetric(m.healthy, prometheus.GaugeValue, float64(st.Healthy), st.Service)
	}
}
