package promhist

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Vec is a histogram per combination of label values, as a
// prometheus.HistogramVec made with Opts, whose series are Histograms. It
// is a prometheus.Collector: register it as one.
type Vec struct {
	desc   *prometheus.Desc
	upper  []float64
	labels int

	mu       sync.Mutex
	children map[string]*Histogram
}

var _ prometheus.Collector = (*Vec)(nil)

// NewVec returns the histograms called name, with help's text, classic
// buckets (upper bounds, increasing, +Inf implied) and labels' names.
func NewVec(name, help string, buckets []float64, labels []string) *Vec {
	return &Vec{
		desc:     prometheus.NewDesc(name, help, labels, nil),
		upper:    buckets,
		labels:   len(labels),
		children: make(map[string]*Histogram),
	}
}

// WithLabelValues returns the histogram of values (one per label, in
// NewVec's order), made at the first call. As client_golang's, it panics
// when the number of values is wrong or one is not UTF-8. It takes a
// mutex: callers on a hot path keep what it returns.
func (v *Vec) WithLabelValues(values ...string) prometheus.Observer {
	if len(values) != v.labels {
		panic(fmt.Sprintf("promhist: %d label values for %d labels: %q", len(values), v.labels, values))
	}
	for _, s := range values {
		if !utf8.ValidString(s) {
			panic(fmt.Sprintf("promhist: label value %q is not valid UTF-8", s))
		}
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	h := v.children[key]
	if h == nil {
		h = newHistogram(v.desc, prometheus.MakeLabelPairs(v.desc, values), v.upper, time.Now())
		v.children[key] = h
	}
	return h
}

// Describe implements prometheus.Collector.
func (v *Vec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *Vec) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	hs := make([]*Histogram, 0, len(v.children))
	for _, h := range v.children {
		hs = append(hs, h)
	}
	v.mu.Unlock()
	for _, h := range hs {
		ch <- h
	}
}
