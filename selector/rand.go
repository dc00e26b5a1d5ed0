package selector

import (
	"math/bits"
	"math/rand/v2"
	"time"
)

// Option configures a strategy that draws random numbers (LeastLoaded,
// Weighted and Canary), or a Loads (WithClock).
type Option func(*options)

type options struct {
	src rand.Source
	now func() time.Time
}

// WithClock makes a Loads read time from now instead of time.Now, to decay
// its failure penalties. Tests use it to move time by hand.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithSource makes the strategy draw its random numbers from src instead of
// the runtime's generator. Its pickers call src.Uint64 concurrently when
// they are used concurrently, so src must then be safe for concurrent use;
// a seeded *rand.PCG suits a test that picks from one goroutine. Tests use
// it to make counts exact.
func WithSource(src rand.Source) Option {
	return func(o *options) {
		if src != nil {
			o.src = src
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{src: runtimeSource{}, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// runtimeSource is the runtime's generator: safe for concurrent use, with no
// lock and no allocation.
type runtimeSource struct{}

func (runtimeSource) Uint64() uint64 { return rand.Uint64() }

// intN returns a uniform int in [0, n), n > 0, by Lemire's multiply-shift,
// whose bias of at most n/2⁶⁴ is far below anything a test could see.
func intN(src rand.Source, n int) int {
	hi, _ := bits.Mul64(src.Uint64(), uint64(n))
	return int(hi)
}

// float returns a uniform float64 in [0, 1).
func float(src rand.Source) float64 {
	return float64(src.Uint64()>>11) * 0x1p-53
}
