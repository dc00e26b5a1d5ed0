package upstream

import (
	"sync"
	"time"
)

// Defaults of a RetryBudget, after Finagle's.
const (
	DefaultRetryRatio     = 0.2
	DefaultRetryFloor     = 10 // retries per second allowed whatever the traffic
	DefaultRetryWindow    = 10 * time.Second
	retryBudgetResolution = time.Second
)

// RetryBudget bounds the retries a client makes to one service to a share of
// its requests, plus a small floor per second, over a sliding window: under a
// broad outage retries stop instead of multiplying the load. It is safe for
// concurrent use.
type RetryBudget struct {
	ratio  float64
	floor  float64
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	buckets []retryBucket
}

type retryBucket struct {
	slot              int64 // which second the counts belong to
	requests, retries float64
}

// NewRetryBudget returns a budget allowing retries up to ratio of requests
// plus floor per second, both counted over window. Zero values mean the
// defaults; a nil now means time.Now.
func NewRetryBudget(ratio, floor float64, window time.Duration, now func() time.Time) *RetryBudget {
	if ratio <= 0 {
		ratio = DefaultRetryRatio
	}
	if floor < 0 {
		floor = 0
	}
	if window < retryBudgetResolution {
		window = DefaultRetryWindow
	}
	if now == nil {
		now = time.Now
	}
	n := int(window / retryBudgetResolution)
	return &RetryBudget{ratio: ratio, floor: floor, window: window, now: now, buckets: make([]retryBucket, n)}
}

// bucket returns the current second's bucket, resetting a stale one.
func (b *RetryBudget) bucket(slot int64) *retryBucket {
	k := &b.buckets[int(slot%int64(len(b.buckets)))]
	if k.slot != slot {
		*k = retryBucket{slot: slot}
	}
	return k
}

func (b *RetryBudget) slot() int64 { return slotOf(b.now()) }

func slotOf(t time.Time) int64 { return t.UnixNano() / int64(retryBudgetResolution) }

// Request records a request (a first attempt), which earns retries.
func (b *RetryBudget) Request() { b.requestAt(b.now()) }

// requestAt is Request at now, a reading of the budget's clock.
func (b *RetryBudget) requestAt(now time.Time) {
	b.mu.Lock()
	b.bucket(slotOf(now)).requests++
	b.mu.Unlock()
}

// TryRetry spends one retry if the budget allows it, and reports whether it
// did.
func (b *RetryBudget) TryRetry() bool {
	return b.retry(true, b.now())
}

// CanRetry reports whether the budget would allow one retry now, spending
// nothing.
func (b *RetryBudget) CanRetry() bool {
	return b.canRetryAt(b.now())
}

// canRetryAt is CanRetry at now, a reading of the budget's clock.
func (b *RetryBudget) canRetryAt(now time.Time) bool {
	return b.retry(false, now)
}

func (b *RetryBudget) retry(spend bool, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	slot := slotOf(now)
	var requests, retries float64
	oldest := slot - int64(len(b.buckets)) + 1
	for i := range b.buckets {
		if k := &b.buckets[i]; k.slot >= oldest && k.slot <= slot {
			requests += k.requests
			retries += k.retries
		}
	}
	allowed := b.ratio*requests + b.floor*b.window.Seconds()
	if retries+1 > allowed {
		return false
	}
	if spend {
		b.bucket(slot).retries++
	}
	return true
}
