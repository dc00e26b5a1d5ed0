package promhist

import (
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
)

// The native (sparse) buckets, as client_golang numbers them: at schema s,
// bucket k holds the values in (2^((k-1)/2^s), 2^(k/2^s)], so that key 0
// ends at 1. Schema 3 is what Opts's bucket factor of 1.1 gives: 8 buckets
// for every power of two, each about 9 % wide.
const (
	schema    = 3
	perOctave = 1 << schema

	// zeroThreshold is client_golang's default (DefNativeHistogramZeroThreshold,
	// 2^-128): a value no further from zero goes to the zero bucket.
	zeroThreshold = 2.938735877055719e-39

	// maxBuckets is Opts's NativeHistogramMaxBucketNumber: Write lowers the
	// schema until no more buckets than this are populated.
	maxBuckets = 160

	// The keys kept in a flat array, for the values from 2^-32 (0.23 ns)
	// to 2^12 seconds (68 minutes): every latency and budget. A value
	// outside them goes to a map under the histogram's mutex.
	minKey = -32 * perOctave
	maxKey = 12 * perOctave // exclusive
	nKeys  = maxKey - minKey
)

// octaveBounds are the fractions (of math.Frexp) where schema 3's buckets
// end within one power of two, 2^(i/8)/2 for i from 0 to 7, to the last
// bit as client_golang has them: computing them with math.Exp2 can differ
// in the last bit, and move a value on a bound to the next bucket.
var octaveBounds = [perOctave]float64{
	0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
	0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
}

// nativeKey returns the key of |v|'s bucket at schema 3, v neither zero, NaN
// nor infinite.
func nativeKey(v float64) int {
	frac, exp := math.Frexp(math.Abs(v))
	return sort.SearchFloat64s(octaveBounds[:], frac) + (exp-1)*perOctave
}

// downscale merges the buckets of keys (sorted, their counts in counts)
// from one schema to the next lower one, where key k becomes ceil(k/2). It
// works in place and returns the merged slices.
func downscale(keys []int, counts []int64) ([]int, []int64) {
	n := 0
	for i, k := range keys {
		k = (k + 1) >> 1 // ceil(k/2), for negative keys too
		if n > 0 && keys[n-1] == k {
			counts[n-1] += counts[i]
			continue
		}
		keys[n], counts[n] = k, counts[i]
		n++
	}
	return keys[:n], counts[:n]
}

// spans encodes buckets (sorted keys, their counts) as client_golang does:
// spans of consecutive keys, a gap of one or two empty buckets written as
// zeros rather than as a new span, and each count as the difference from
// the one before.
func spans(keys []int, counts []int64) ([]*dto.BucketSpan, []int64) {
	if len(keys) == 0 {
		return nil, nil
	}
	var (
		ss     []*dto.BucketSpan
		deltas []int64
		prev   int64
		next   int
	)
	add := func(c int64) {
		*ss[len(ss)-1].Length++
		deltas = append(deltas, c-prev)
		prev = c
	}
	for i, k := range keys {
		gap := int32(k - next)
		if i == 0 || gap > 2 {
			ss = append(ss, &dto.BucketSpan{Offset: new(gap), Length: new(uint32(0))})
		} else {
			for range gap {
				add(0)
			}
		}
		add(counts[i])
		next = k + 1
	}
	return ss, deltas
}
