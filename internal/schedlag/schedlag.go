// Package schedlag samples the process's own scheduling lag: how long its
// goroutines wait to run once runnable, from the Go runtime's
// /sched/latencies:seconds histogram.
//
// # Why
//
// Two parts of Sluice must tell a process short of CPU from anything else.
//
// The caller's own lag, kept out of a node's round trips (package upstream's
// concurrency limits). A round trip is timed from sending the request to
// reading the answer's header, in the caller's process. When that process is
// short of CPU (a gateway saturated by its own traffic, or starved by its
// neighbours), the answer waits in the socket until the goroutine that reads
// it is scheduled, and every node seems slower by that wait. The concurrency
// limits would then fall and shed requests with 503 while the nodes are
// fine: the caller's fault blamed on its backends. Observed: a gateway at
// GOMAXPROCS=1 under 64 connections on a busy 2-core machine refused 70 %
// of requests with "every node is at its concurrency limit" in front of a
// healthy greeter. So the limits judge a node on its round trip less the
// process's recent scheduling lag. An answer waits for one such wake-up.
//
// A backend's own queue (package budget's Inbound). net/http runs every
// request it accepts at once, so the queue of a backend whose handlers need
// CPU is the Go scheduler's run queue, shared by every request in flight:
// under an overload they all advance slowly together and run out of budget
// together (see budget.ServerPolicy.ShedLag). The lag is that queue's wait.
//
// The lag is the 90th percentile, over the last Interval, of the waits
// counted in it, sampled by one goroutine per process, started by the first
// Own.
package schedlag

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often the lag is sampled, and the window it covers.
const Interval = 100 * time.Millisecond

// lagQuantile is the quantile of the scheduling latencies taken as the lag.
const lagQuantile = 0.9

// schedLag samples the process's scheduling lag in the background once
// started; Load reads the last sample without a lock.
type schedLag struct {
	once  sync.Once
	lag   atomic.Int64 // ns
	prev  []uint64     // cumulative counts at the last sample
	stats []metrics.Sample
}

// ownLag is the process's one sampler, started by the first Own.
var ownLag schedLag

// Own starts the process's sampler, once, and returns its Load: the lag of
// the last Interval, zero before the first sample or when the runtime does
// not report it.
func Own() func() time.Duration {
	ownLag.start()
	return ownLag.Load
}

const schedLatencies = "/sched/latencies:seconds"

// start begins sampling, once per process.
func (s *schedLag) start() {
	s.once.Do(func() {
		s.stats = []metrics.Sample{{Name: schedLatencies}}
		metrics.Read(s.stats)
		if s.stats[0].Value.Kind() != metrics.KindFloat64Histogram {
			return // not reported by this runtime: no lag is ever subtracted
		}
		s.prev = append([]uint64(nil), s.stats[0].Value.Float64Histogram().Counts...)
		go func() {
			last := time.Now()
			for range time.Tick(Interval) {
				// A tick that waited in its channel while the sampler
				// could not run (a process short of CPU) is followed at
				// once by the next: the window between them counted
				// next to nothing, and read as no lag, it told a
				// backend shedding its overload that the overload was
				// over, and every request arriving until the next
				// sample was let in.
				if now := time.Now(); now.Sub(last) >= Interval/2 {
					last = now
					s.sample()
				}
			}
		}()
	})
}

// sample publishes the lag of the interval since the previous sample.
func (s *schedLag) sample() {
	metrics.Read(s.stats)
	h := s.stats[0].Value.Float64Histogram()
	s.lag.Store(int64(lagOf(h.Buckets, h.Counts, s.prev, lagQuantile)))
	s.prev = append(s.prev[:0], h.Counts...)
}

// Load returns the last lag sampled, zero before the first.
func (s *schedLag) Load() time.Duration { return time.Duration(s.lag.Load()) }

// lagOf returns quantile q of the latencies counted between prev and cur
// (cumulative bucket counts; buckets holds the len(cur)+1 bucket bounds in
// seconds), as the lower bound of the bucket it falls in, so that it never
// exceeds a latency actually seen. No latency counted gives zero.
func lagOf(buckets []float64, cur, prev []uint64, q float64) time.Duration {
	if len(prev) != len(cur) {
		return 0
	}
	var total uint64
	for i := range cur {
		total += cur[i] - prev[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i := range cur {
		seen += cur[i] - prev[i]
		if seen >= rank {
			lo := buckets[i]
			if lo <= 0 || lo != lo { // -Inf or 0: no lag worth subtracting
				return 0
			}
			return time.Duration(lo * float64(time.Second))
		}
	}
	return 0
}
