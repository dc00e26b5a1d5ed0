package upstream

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the per-try timeout that a Client derives when its
// RetryPolicy.PerTryTimeout is zero.
const (
	// DefaultPerTryFloor is the least derived per-try timeout.
	DefaultPerTryFloor = 250 * time.Millisecond
	// DefaultPerTryFactor multiplies the node's (or the service's) high
	// latency.
	DefaultPerTryFactor = 3
	// perTrySamples is how many answers a service, or a node, must have
	// given before a per-try timeout is derived from them.
	perTrySamples = 20
	// peakHalfLife is how fast the slowest recent answer is forgotten.
	peakHalfLife = 30 * time.Second
)

// latency estimates how long a service takes to answer, from its answers
// (successes and 4xx, never failures): see latencyEstimate. Safe for
// concurrent use.
type latency struct {
	mu  sync.Mutex
	est latencyEstimate
}

func (l *latency) observe(d time.Duration, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.est.observe(d, now)
}

// high is latencyEstimate.high, under the lock.
func (l *latency) high(now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.est.high(now)
}

// latencyEstimate is what a latency keeps, a service's or a node's (its
// nodeLimit's, under its lock): a smoothed mean and mean deviation of the
// answers' round trips as TCP's retransmission timer keeps them (RFC
// 6298), and the slowest recent answer, decaying with a 30 s half-life.
// Its user serialises its calls.
type latencyEstimate struct {
	n          int
	srtt, rttv float64 // nanoseconds
	peak       float64 // nanoseconds, as of peakAt
	peakAt     time.Time
}

func (l *latencyEstimate) observe(d time.Duration, now time.Time) {
	x := float64(max(d, 0))
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

func (l *latencyEstimate) peakNow(now time.Time) float64 {
	if l.peak == 0 {
		return 0
	}
	return l.peak * math.Exp2(-float64(now.Sub(l.peakAt))/float64(peakHalfLife))
}

// high returns the high latency (the larger of the smoothed mean plus
// four deviations and the decaying peak), and false until enough answers
// were seen.
func (l *latencyEstimate) high(now time.Time) (time.Duration, bool) {
	if l.n < perTrySamples {
		return 0, false
	}
	return time.Duration(max(l.srtt+4*l.rttv, l.peakNow(now))), true
}

// perTry returns the timeout of an attempt of r to svc starting at now
// (on the client's clock), or 0 for none:
// none for a stream (WithStream), else RetryPolicy.PerTryTimeout when positive, none when negative, and when zero
// one derived from the budget left and the latency of the node the
// attempt goes to (highOf; nl is the node's limit, nil when it has none).
// A derived timeout cuts only an attempt that a retry could follow (an
// idempotent, replayable request, with retries left at this hop and in the
// retry budget): it is DefaultPerTryFactor times the node's high latency,
// at least DefaultPerTryFloor, and only if twice that fits in what is
// left, so that a retry still has the time a normal answer takes; else
// half of what is left, if that still exceeds the high latency; else no
// cut. A node that hangs then costs a call one per-try timeout, not its
// whole budget.
//
// unknown is true when a timeout would be derived but the service has not
// yet given the answers to derive it from (a client that just started):
// the attempt is then sent with none, and watched (coldTry) until the
// service's latency is known.
func (c *Client) perTry(ctx context.Context, r *http.Request, svc *service, nl *nodeLimit, attempt int, rb *RetryBudget,
	now time.Time, stream bool) (t time.Duration, unknown bool) {
	p := &c.retry
	switch {
	case stream: // streaming(ctx), read once a call
		return 0, false
	case p.PerTryTimeout > 0:
		return p.PerTryTimeout, false
	case p.PerTryTimeout < 0 || attempt >= p.MaxRetries || !idempotent(ctx, r) || !replayable(r):
		return 0, false
	}
	if upstreamRetries(ctx, p) {
		return 0, false // a sent failure would not be retried here
	}
	if rb != nil && !rb.canRetryAt(now) {
		return 0, false
	}
	high, ok := highOf(svc, nl, now)
	if !ok {
		return 0, true
	}
	return derivedTry(high, c.leftAt(ctx, now)), false
}

// highOf returns the high latency that the per-try timeout of an attempt
// to a node of svc, whose limit is nl (nil when the node has none, as
// without Limits), is derived from: the node's own once it has given
// perTrySamples answers, else the service's. One slow node (200 ms, where
// its peers answered in 5 ms) made the service's high latency its own,
// and the per-try timeout of every node 600 ms: an attempt on a fast peer
// that hung then cost its call 600 ms before the retry, not 250
// (TestASlowNodeDoesNotLoosenTheCutOfAHungAttemptOnItsPeer in
// cmd/gateway). A node that stops answering keeps the latency it had: its
// hang is measured against its own pace. One that never answered, hung
// from the start, has the service's.
func highOf(svc *service, nl *nodeLimit, now time.Time) (time.Duration, bool) {
	if nl != nil {
		if high, ok := nl.high(now); ok {
			return high, true
		}
	}
	return svc.latency.high(now)
}

// derivedTry is the per-try timeout derived from a node's high latency
// for an attempt with left of its budget left (see perTry), or 0 for none.
func derivedTry(high, left time.Duration) time.Duration {
	want := max(DefaultPerTryFloor, DefaultPerTryFactor*high)
	switch {
	case 2*want <= left:
		return want
	case left/2 >= high && left/2 >= DefaultPerTryFloor:
		return left / 2
	}
	return 0
}

// errColdTry is the error of an attempt that coldTry cut.
var errColdTry = fmt.Errorf("upstream: no answer within the per-try timeout derived once the service's latency was known: %w",
	context.DeadlineExceeded)

// coldTry watches an attempt sent with no per-try timeout only because
// the service had not yet given the answers to derive one from (perTry's
// unknown): a client that starts with one node of three hung sends a
// share of its first calls there, and those waited for the whole budget
// and failed with 504 (11 of 160 GETs through a gateway just started,
// 32 clients at a time, TestAHungNodeAtColdStartFailsNoGET), where the
// same node costs a call a quarter of a second once the latency is known.
// Every DefaultPerTryFloor until the attempt is answered, it looks again:
// once the service's latency is known, the attempt is cut (its context
// cancelled, its error errColdTry, a failed attempt to retry on another
// node) when it has waited for the timeout perTry would have given it as
// it was sent, with the budget it had then and the latency known now
// (highOf: the node's, once it has given enough answers, else the
// service's).
type coldTry struct {
	c      *Client
	svc    *service
	nl     *nodeLimit    // the node's limit, nil when it has none
	sent   time.Time     // on the client's clock
	left   time.Duration // the budget left as it was sent
	cancel context.CancelFunc
	state  atomic.Int32 // coldWaiting, coldAnswered or coldCut
	timer  *time.Timer
}

const (
	coldWaiting = iota
	coldAnswered
	coldCut
)

// watchCold returns ctx cancellable by the watch of an attempt sent at
// now, to a node of svc whose limit is nl (nil when it has none), with
// left of its budget left, the watch, and the attempt's cancel.
func (c *Client) watchCold(ctx context.Context, svc *service, nl *nodeLimit, now time.Time, left time.Duration) (context.Context, *coldTry, context.CancelFunc) {
	actx, cancel := context.WithCancel(ctx)
	w := &coldTry{c: c, svc: svc, nl: nl, sent: now, left: left, cancel: cancel}
	// Armed once w.timer is set, which check uses.
	w.timer = time.AfterFunc(time.Duration(math.MaxInt64), w.check)
	w.timer.Reset(DefaultPerTryFloor)
	return actx, w, cancel
}

func (w *coldTry) check() {
	if w.state.Load() != coldWaiting {
		return
	}
	now := w.c.now()
	next := DefaultPerTryFloor
	if high, ok := highOf(w.svc, w.nl, now); ok {
		t := derivedTry(high, w.left)
		if t <= 0 {
			return // no cut would have been made: nothing to watch for
		}
		waited := now.Sub(w.sent)
		if waited >= t {
			if w.state.CompareAndSwap(coldWaiting, coldCut) {
				w.cancel()
			}
			return
		}
		next = t - waited
	}
	w.timer.Reset(next)
}

// answered ends the watch as the attempt's round trip returned, and
// reports whether the attempt was cut.
func (w *coldTry) answered() (cut bool) {
	if w.state.CompareAndSwap(coldWaiting, coldAnswered) {
		w.timer.Stop()
		return false
	}
	return w.state.Load() == coldCut
}
