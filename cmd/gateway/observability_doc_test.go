package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
)

// docMetrics reads the metrics table of docs/observability.md: name →
// type and labels (sorted, comma-separated).
func docMetrics(t *testing.T) map[string]familyInfo {
	t.Helper()
	b, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]familyInfo)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `sluice_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Fatalf("metrics table row %q: too few cells", line)
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var labels []string
		for _, l := range strings.Split(cells[3], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		if _, dup := out[name]; dup {
			t.Errorf("%s listed twice", name)
		}
		out[name] = familyInfo{typ: strings.TrimSpace(cells[2]), labels: strings.Join(labels, ", ")}
	}
	return out
}

// TestObservabilityDocListsEveryMetric checks docs/observability.md's table
// against the metrics the gateway exports after traffic that moves them
// all, and those a backend exports through package metrics: every metric
// listed, none invented, each with its type and labels.
func TestObservabilityDocListsEveryMetric(t *testing.T) {
	g := obsGateway(t)
	traffic(t, g.handler())
	// No provider of this configuration fetches a JWK Set: one label set
	// makes each registered family show.
	g.keys.refresh.WithLabelValues("provider", "loaded")
	// Nor has a route a global rate limit (they need a Redis).
	g.edge.global.decisions.WithLabelValues("route", "global")
	g.edge.global.latency.WithLabelValues("global")
	// Nor does the traffic, through the handler, pass a listener's server.
	g.edge.listenerRefused(http.StatusBadRequest)
	// Nor a PROXY header.
	g.edge.proxyRefused("timeout")
	// Nor has a route an allow_from.
	g.edge.forbidden.WithLabelValues("route")
	// Nor a certificate file.
	certFile, certKey := certtest.NewCA(t).Server(t, "a.example").Write(t, t.TempDir(), "a")
	store, err := tlscert.New([]tlscert.Pair{{CertFile: certFile, KeyFile: certKey}})
	if err != nil {
		t.Fatal(err)
	}
	g.certExpiry.add("listener", store)
	got := families(t, g.promReg)

	// A backend's: budget.Inbound observed by package metrics.
	backend := prometheus.NewRegistry()
	m := metrics.NewUpstream(backend)
	budget.Inbound(budget.ServerPolicy{Observe: m.Inbound})(nil).ServeHTTP(httptest.NewRecorder(),
		func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(budget.HeaderName, "ms=0, hop=1")
			return r
		}())
	// The trace exports' counter, registered with tracing on.
	exports := prometheus.NewRegistry()
	newTraceExports(exports, slog.New(slog.DiscardHandler)).observe(1, nil)
	// The discovery gauges, registered with a registry cache (Consul's),
	// one series per service watched.
	discovery := prometheus.NewRegistry()
	discovery.MustRegister(newDiscoveryMetrics(watchedCache(t)))
	// The log's dropped lines, registered by serve over its output.
	logs := prometheus.NewRegistry()
	out := newLogOutput(io.Discard)
	defer closeLogOutput(out)
	registerLogDrops(logs, out)
	// The health checks' metrics, registered when a service has a
	// health_check.
	health := prometheus.NewRegistry()
	hc := load(t, strings.Replace(minimalConfig(keyFile(t)), "s: {}", "s: {health_check: {path: /healthz}}", 1))
	st, err := registry.NewStatic(hc.StaticNodes()...)
	if err != nil {
		t.Fatal(err)
	}
	newNodeHealth(st, hc, slog.New(slog.DiscardHandler), health, nil)
	for _, reg := range []*prometheus.Registry{backend, exports, discovery, logs, health} {
		for name, f := range families(t, reg) {
			if _, ok := got[name]; !ok {
				got[name] = f
			}
		}
	}

	doc := docMetrics(t)
	for name, f := range got {
		d, ok := doc[name]
		switch {
		case !ok:
			t.Errorf("%s (%s {%s}) is exported but not in docs/observability.md", name, f.typ, f.labels)
		case d.typ != f.typ || d.labels != f.labels:
			t.Errorf("%s: docs say %s {%s}, the code %s {%s}", name, d.typ, d.labels, f.typ, f.labels)
		}
	}
	for name := range doc {
		if _, ok := got[name]; !ok {
			t.Errorf("docs/observability.md lists %s, which nothing exports", name)
		}
	}
}
