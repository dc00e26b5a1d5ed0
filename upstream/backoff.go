package upstream

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults of the back-off between attempts, after Envoy's.
const (
	DefaultBackoffBase = 25 * time.Millisecond
	DefaultBackoffCap  = 250 * time.Millisecond
)

// backoff returns the full-jitter wait before retry number n (1 for the
// first retry): uniform in [0, min(cap, base·2^(n-1))].
func backoff(n int, base, ceiling time.Duration, rnd func(int64) int64) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	if d <= 0 {
		return 0
	}
	return time.Duration(rnd(int64(d) + 1))
}

// sleep waits d or until ctx ends, whichever comes first; the wait is
// charged to the budget like any other.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var defaultRand = rand.Int64N
