package upstream

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"
)

// Defaults of the per-try timeout that a Client derives when its
// RetryPolicy.PerTryTimeout is zero.
const (
	// DefaultPerTryFloor is the least derived per-try timeout.
	DefaultPerTryFloor = 250 * time.Millisecond
	// DefaultPerTryFactor multiplies the service's high latency.
	DefaultPerTryFactor = 3
	// perTrySamples is how many answers a service must have given before a
	// per-try timeout is derived from them.
	perTrySamples = 20
	// peakHalfLife is how fast the slowest recent answer is forgotten.
	peakHalfLife = 30 * time.Second
)

// latency estimates how long a service takes to answer, from its answers
// (successes and 4xx, never failures): a smoothed mean and mean deviation
// as TCP's retransmission timer keeps them (RFC 6298), and the slowest
// recent answer, decaying with a 30 s half-life. Safe for concurrent use.
type latency struct {
	mu         sync.Mutex
	n          int
	srtt, rttv float64 // nanoseconds
	peak       float64 // nanoseconds, as of peakAt
	peakAt     time.Time
}

func (l *latency) observe(d time.Duration, now time.Time) {
	x := float64(max(d, 0))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		l.srtt, l.rttv = x, x/2
	} else {
		l.rttv = 0.75*l.rttv + 0.25*math.Abs(l.srtt-x)
		l.srtt = 0.875*l.srtt + 0.125*x
	}
	l.n++
	if p := l.peakNow(now); x >= p {
		l.peak, l.peakAt = x, now
	}
}

func (l *latency) peakNow(now time.Time) float64 {
	if l.peak == 0 {
		return 0
	}
	return l.peak * math.Exp2(-float64(now.Sub(l.peakAt))/float64(peakHalfLife))
}

// high returns the service's high latency (the larger of the smoothed mean
// plus four deviations and the decaying peak), and false until enough
// answers were seen.
func (l *latency) high(now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n < perTrySamples {
		return 0, false
	}
	return time.Duration(max(l.srtt+4*l.rttv, l.peakNow(now))), true
}

// perTry returns the timeout of an attempt of r to svc starting at now
// (on the client's clock), or 0 for none:
// none for a stream (WithStream), else RetryPolicy.PerTryTimeout when positive, none when negative, and when zero
// one derived from the budget left and the service's latency. A derived
// timeout cuts only an attempt that a retry could follow (an idempotent,
// replayable request, with retries left at this hop and in the retry
// budget): it is DefaultPerTryFactor times the service's high latency, at
// least DefaultPerTryFloor, and only if twice that fits in what is left, so
// that a retry still has the time a normal answer takes; else half of what
// is left, if that still exceeds the high latency; else no cut. A node that
// hangs then costs a call one per-try timeout, not its whole budget.
func (c *Client) perTry(ctx context.Context, r *http.Request, svc *service, attempt int, rb *RetryBudget, now time.Time) time.Duration {
	p := &c.retry
	switch {
	case streaming(ctx):
		return 0
	case p.PerTryTimeout > 0:
		return p.PerTryTimeout
	case p.PerTryTimeout < 0 || attempt >= p.MaxRetries || !idempotent(ctx, r) || !replayable(r):
		return 0
	}
	if upstreamRetries(ctx, p) {
		return 0 // a sent failure would not be retried here
	}
	high, ok := svc.latency.high(now)
	if !ok || rb != nil && !rb.canRetryAt(now) {
		return 0
	}
	left := c.leftAt(ctx, now)
	want := max(DefaultPerTryFloor, DefaultPerTryFactor*high)
	switch {
	case 2*want <= left:
		return want
	case left/2 >= high && left/2 >= DefaultPerTryFloor:
		return left / 2
	}
	return 0
}
