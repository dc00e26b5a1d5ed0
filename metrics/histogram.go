package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DurationBuckets are the classic buckets of the latency histograms, in
// seconds, the same as the gateway's (middleware.DurationBuckets).
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// BudgetBuckets are the classic buckets of the budget histograms, in
// seconds, the same as the gateway's (middleware.BudgetBuckets).
var BudgetBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// histogramOpts returns the options of a histogram with classic buckets
// and a native one beside them (about 10 % resolution), as the gateway's.
func histogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name: name, Help: help, Buckets: buckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}
}
