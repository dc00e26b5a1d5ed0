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

	// children maps the label values, joined by a byte UTF-8 never has, to
	// their *Histogram. A sync.Map: a backend's budget.Inbound looks its
	// hop's histogram up on every request, from many goroutines at once,
	// and a found child takes no lock.
	children sync.Map
}

var _ prometheus.Collector = (*Vec)(nil)

// NewVec returns the histograms called name, with help's text, classic
// buckets (upper bounds, increasing, +Inf implied) and labels' names.
func NewVec(name, help string, buckets []float64, labels []string) *Vec {
	return &Vec{
		desc:   prometheus.NewDesc(name, help, labels, nil),
		upper:  buckets,
		labels: len(labels),
	}
}

// WithLabelValues returns the histogram of values (one per label, in
// NewVec's order), made at the first call. As client_golang's, it panics
// when the number of values is wrong or one is not UTF-8. A call with more
// than one value joins them into a new string: callers on a hot path keep
// what it returns.
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
	if h, ok := v.children.Load(key); ok {
		return h.(*Histogram)
	}
	h, _ := v.children.LoadOrStore(key,
		newHistogram(v.desc, prometheus.MakeLabelPairs(v.desc, values), v.upper, time.Now()))
	return h.(*Histogram)
}

// Describe implements prometheus.Collector.
func (v *Vec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *Vec) Collect(ch chan<- prometheus.Metric) {
	v.children.Range(func(_, h any) bool {
		ch <- h.(*Histogram)
		return true
	})
}
