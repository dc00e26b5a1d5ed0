package promhist

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Histogram is one series of a Vec: the classic buckets and the native
// histogram of a client_golang histogram made with Opts, written to the
// same dto.Metric for the same observations (TestHistogramMatchesClientGolang),
// at less cost per observation.
//
// Why: the gateway observes four histograms on every request. client_golang
// keeps a native histogram's buckets in a sync.Map, so each observation
// also walks that map; under load, on the gateway's request path, that
// cost about 0.54 µs of CPU a request of the 0.75 its histograms took
// (bench/README.md, "The gap to nginx"). Here the buckets of every value
// from 2^-32 to 2^12 (seconds: every latency and budget) are a flat array of
// counters, and an observation is a few atomic adds. Values beyond that
// range, negative ones and infinities take a map under a mutex, as rare as
// they are.
//
// Two differences from client_golang, both at Write:
//   - Past 160 populated native buckets, client_golang resets the
//     histogram if its last reset is an hour old (Opts's
//     NativeHistogramMinResetDuration), and otherwise widens its zero
//     bucket or halves its resolution until that hour is up. Write here
//     lowers the resolution of what it writes only, until no more than 160
//     buckets are, and never resets.
//   - client_golang swaps two sets of counters so that a Write sees whole
//     observations only. Here Observe adds to the count first and Write
//     reads it last, so a Write racing an Observe may count it without its
//     buckets, never the reverse: the count is never below the buckets'
//     sum, which is what Prometheus checks (a NaN observation is counted
//     in no bucket either).
type Histogram struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	upper   []float64 // the classic buckets' upper bounds
	created time.Time

	classic []atomic.Uint64 // by classic bucket; the last is +Inf's
	native  []atomic.Int64  // by key - minKey
	zero    atomic.Uint64   // the zero bucket's count
	sumBits atomic.Uint64
	count   atomic.Uint64

	mu       sync.Mutex
	outside  map[int]int64 // positive values' buckets beyond native
	negative map[int]int64 // negative values' buckets
}

var _ prometheus.Metric = (*Histogram)(nil)

func newHistogram(desc *prometheus.Desc, labels []*dto.LabelPair, upper []float64, now time.Time) *Histogram {
	return &Histogram{
		desc: desc, labels: labels, upper: upper, created: now,
		classic: make([]atomic.Uint64, len(upper)+1),
		native:  make([]atomic.Int64, nKeys),
	}
}

// Observe adds v.
func (h *Histogram) Observe(v float64) {
	h.count.Add(1) // first: see the type's doc
	h.classic[h.classicBucket(v)].Add(1)
	for { // as client_golang adds to the sum
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	switch {
	case math.IsNaN(v): // counted, in no native bucket
	case v > zeroThreshold && v <= math.MaxFloat64:
		if k := nativeKey(v); k >= minKey && k < maxKey {
			h.native[k-minKey].Add(1)
		} else {
			h.addOutside(&h.outside, k)
		}
	case v < -zeroThreshold && v >= -math.MaxFloat64:
		h.addOutside(&h.negative, nativeKey(v))
	case math.IsInf(v, 1):
		h.addOutside(&h.outside, nativeKey(math.MaxFloat64)+1)
	case math.IsInf(v, -1):
		h.addOutside(&h.negative, nativeKey(math.MaxFloat64)+1)
	default:
		h.zero.Add(1)
	}
}

// classicBucket returns the index of v's classic bucket, len(h.upper) for
// +Inf's (NaN's too, as client_golang).
func (h *Histogram) classicBucket(v float64) int {
	for i, b := range h.upper {
		if v <= b {
			return i
		}
	}
	return len(h.upper)
}

func (h *Histogram) addOutside(m *map[int]int64, key int) {
	h.mu.Lock()
	if *m == nil {
		*m = make(map[int]int64)
	}
	(*m)[key]++
	h.mu.Unlock()
}

// Desc implements prometheus.Metric.
func (h *Histogram) Desc() *prometheus.Desc { return h.desc }

// Write implements prometheus.Metric.
func (h *Histogram) Write(out *dto.Metric) error {
	// The buckets first, the count last: see the type's doc.
	var pos, neg []int
	var posN, negN []int64
	for i := range h.native {
		if c := h.native[i].Load(); c > 0 {
			pos, posN = append(pos, i+minKey), append(posN, c)
		}
	}
	h.mu.Lock()
	pos, posN = appendSorted(pos, posN, h.outside)
	neg, negN = appendSorted(neg, negN, h.negative)
	h.mu.Unlock()
	zero := h.zero.Load()
	classic := make([]uint64, len(h.classic))
	for i := range h.classic {
		classic[i] = h.classic[i].Load()
	}
	count := h.count.Load()
	sum := math.Float64frombits(h.sumBits.Load())

	s := int32(schema)
	for len(pos)+len(neg) > maxBuckets && s > -4 {
		pos, posN = downscale(pos, posN)
		neg, negN = downscale(neg, negN)
		s--
	}
	his := &dto.Histogram{
		SampleCount:      new(count),
		SampleSum:        new(sum),
		Bucket:           make([]*dto.Bucket, len(h.upper)),
		CreatedTimestamp: timestamppb.New(h.created),
		Schema:           new(s),
		ZeroThreshold:    new(float64(zeroThreshold)),
		ZeroCount:        new(zero),
	}
	var cum uint64
	for i, b := range h.upper {
		cum += classic[i]
		his.Bucket[i] = &dto.Bucket{CumulativeCount: new(cum), UpperBound: new(b)}
	}
	his.NegativeSpan, his.NegativeDelta = spans(neg, negN)
	his.PositiveSpan, his.PositiveDelta = spans(pos, posN)
	out.Histogram = his
	out.Label = h.labels
	return nil
}

// appendSorted appends m's keys, with their counts, to keys and counts, and
// sorts the whole by key.
func appendSorted(keys []int, counts []int64, m map[int]int64) ([]int, []int64) {
	if len(m) == 0 {
		return keys, counts
	}
	type kc struct {
		k int
		c int64
	}
	all := make([]kc, 0, len(keys)+len(m))
	for i, k := range keys {
		all = append(all, kc{k, counts[i]})
	}
	for k, c := range m {
		all = append(all, kc{k, c})
	}
	slices.SortFunc(all, func(a, b kc) int { return a.k - b.k })
	keys, counts = keys[:0], counts[:0]
	for _, e := range all {
		keys, counts = append(keys, e.k), append(counts, e.c)
	}
	return keys, counts
}
