package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// report holds every variant's samples, in round order.
type report struct {
	variants []variant
	samples  map[string][]sample
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// med is the median over the rounds of one figure of v's samples.
func (r *report) med(v string, f func(sample) float64) float64 {
	var xs []float64
	for _, s := range r.samples[v] {
		xs = append(xs, f(s))
	}
	return median(xs)
}

// ratio is the median over the rounds of v's figure over its base's, taken
// within each round so that a drift of the machine between rounds cancels.
func (r *report) ratio(v variant, f func(sample) float64) float64 {
	var xs []float64
	for i, s := range r.samples[v.name] {
		if b := f(r.samples[v.base][i]); b != 0 {
			xs = append(xs, f(s)/b)
		}
	}
	return median(xs)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "companion benchmark: medians of %d rounds; closed loop: %d callers for %s; latency: %.0f calls/s open loop for %s\n",
		cfg.rounds, cfg.concurrency, cfg.duration, cfg.rate, cfg.duration)
	fmt.Fprintf(w, "%-20s %-6s %9s %8s %6s %9s %6s %8s %6s %8s %6s\n",
		"variant", "side", "calls/s", "cpu_us", "x", "allocs", "x", "p50_ms", "x", "p99_ms", "x")
	cpu := func(s sample) float64 { return us(s.cpuPerCall) }
	allocs := func(s sample) float64 { return s.allocs }
	p50 := func(s sample) float64 { return ms(s.p50) }
	p99 := func(s sample) float64 { return ms(s.p99) }
	for _, v := range r.variants {
		fmt.Fprintf(w, "%-20s %-6s %9.0f %8.2f %6.2f %9.1f %6.2f %8.3f %6.2f %8.3f %6.2f\n", v.name, v.side,
			r.med(v.name, func(s sample) float64 { return s.callsPerSec }),
			r.med(v.name, cpu), r.ratio(v, cpu),
			r.med(v.name, allocs), r.ratio(v, allocs),
			r.med(v.name, p50), r.ratio(v, p50),
			r.med(v.name, p99), r.ratio(v, p99))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "cpu_us, allocs: CPU time and heap allocations per call in the process that pays them (client: the")
	fmt.Fprintln(w, "caller; server: the backend). x: over the variant's standard-library baseline, within each round.")
	for _, v := range r.variants {
		fmt.Fprintf(w, "  %-20s %s (baseline %s)\n", v.name, v.what, v.base)
	}
}
