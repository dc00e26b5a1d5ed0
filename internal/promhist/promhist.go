// Package promhist is the shape of every Sluice histogram: the classic
// buckets of latencies and of budgets, and the native (sparse) histogram
// kept beside them. The gateway's request metrics (package middleware) and
// the metrics of the upstream client and backends (package metrics) both
// take it from here, so that one dashboard reads them alike; metrics does
// not import middleware, which would bring the gateway's compression and
// JWT libraries into every backend.
//
// It also has the histograms themselves (Vec, Histogram): they write what
// client_golang's histogram made with Opts writes, at less cost per
// observation (see Histogram).
package promhist

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Durations are the classic buckets of latency histograms, in seconds.
var Durations = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Budgets are the classic buckets of budget histograms, in seconds:
// budgets reach further than latencies.
var Budgets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Opts returns the options of a Sluice histogram: the classic buckets
// given, for every Prometheus and every dashboard, and a native histogram
// beside them, which a Prometheus scraping with native histograms enabled
// reads instead, at a resolution of about 10 %.
func Opts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name: name, Help: help, Buckets: buckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}
}
