package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/registry"
)

// discoveryMetrics exports the state of the registry cache's watches, one
// series per service watched, read at each scrape (the cache's Status).
//
// They exist because a failing discovery is silent otherwise: the cache
// serves the last snapshot it has, so requests keep going to the nodes it
// knew while nodes Consul adds or removes go unseen. /admin/registry says
// so to whoever asks; these let an alert ask. A blocking query returns
// within its wait time and Consul's jitter (1 min 4 s) when its agent
// answers, and is given up 10 s after that, so a last success older than
// 1 min 14 s is an agent that holds the queries and never answers, which
// no error reports sooner.
type discoveryMetrics struct {
	cache                       *registry.Cache
	nodes, lastSuccess, failing *prometheus.Desc
	holdingDrop                 *prometheus.Desc
}

func newDiscoveryMetrics(cache *registry.Cache) *discoveryMetrics {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"service"}, nil)
	}
	return &discoveryMetrics{
		cache: cache,
		nodes: desc("sluice_discovery_nodes", "Nodes of a service the registry cache serves now."),
		lastSuccess: desc("sluice_discovery_last_success_timestamp_seconds",
			"When the registry last answered a service's watch (0: never)."),
		failing: desc("sluice_discovery_failing_seconds",
			"How long a service's watch has been failing, the last snapshot served meanwhile (0: healthy)."),
		holdingDrop: desc("sluice_discovery_holding_drop",
			"1 while the registry reports no node of a service and the cache serves the last ones for the drop grace."),
	}
}

// Describe implements prometheus.Collector.
func (d *discoveryMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.nodes
	ch <- d.lastSuccess
	ch <- d.failing
	ch <- d.holdingDrop
}

// Collect implements prometheus.Collector.
func (d *discoveryMetrics) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, st := range d.cache.Status() {
		var last, failing, holding float64
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		if !st.FailingSince.IsZero() {
			failing = now.Sub(st.FailingSince).Seconds()
		}
		if st.HoldingDrop {
			holding = 1
		}
		ch <- prometheus.MustNewConstMetric(d.nodes, prometheus.GaugeValue, float64(st.Nodes), st.Service)
		ch <- prometheus.MustNewConstMetric(d.lastSuccess, prometheus.GaugeValue, last, st.Service)
		ch <- prometheus.MustNewConstMetric(d.failing, prometheus.GaugeValue, failing, st.Service)
		ch <- prometheus.MustNewConstMetric(d.holdingDrop, prometheus.GaugeValue, holding, st.Service)
	}
}
