package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// nodeLimit is one node's adaptive concurrency limit. Its published fields
// (limit, minRTT) are read without a lock when a node is picked; the
// samples that move them are folded in under mu.
type nodeLimit struct {
	s *LimitSettings

	limit   atomic.Int64 // the limit in force, whole requests
	minRTT  atomic.Int64 // ns; 0 until minRTTSamples answers were seen
	samples atomic.Int64 // answers seen
	used    atomic.Int64 // Unix ns of the last sample, or of the first attempt (sending)
	sent    atomic.Bool  // an attempt has been sent to the node
	// refused is set when the node refused a request as full: it was
	// overloaded during the current half window, so its answers then
	// were queued and must not become its minimum.
	refused atomic.Bool
	// refusedWin is set as refused is, and cleared at each window's end:
	// a window in which the node refused requests teaches the baseline
	// nothing (see baseline).
	refusedWin atomic.Bool
	// interval is the smoothed time between answers (ns) while the
	// node's answers show queueing (their smoothed round trip above the
	// target of its baseline), 0 when they do not: then the node is busy,
	// and a request sent now waits about one interval per request waiting
	// ahead of it (Little's law).
	interval atomic.Int64
	// waiting counts the attempts sent to the node whose answer's head
	// has not come: what the limit bounds, and the queue the interval is
	// multiplied by (see Limits.admit).
	waiting atomic.Int64

	mu      sync.Mutex
	value   float64   // the limit, before rounding
	curMin  int64     // least round trip of the current half window, ns
	prevMin int64     // least round trip of the previous half window, ns
	halfEnd time.Time // when the current half window ends
	// srtt is the smoothed round trip (ns); gap the smoothed time between
	// answers (ns), each gap cut to srtt (a longer one means the node sat
	// idle); lastAt when the last answer came.
	srtt, gap float64
	lastAt    time.Time
	// The gradients of the current window (see gradient): their sum and
	// count, the sum of its round trips, and when the window ends.
	winSum float64
	winN   int
	winRTT float64
	winEnd time.Time
	// base is the node's baseline round trip (ns), 0 until the first
	// window's end: see baseline.
	base float64
	// backOffEnd is when the next back-off may shrink the limit.
	backOffEnd time.Time
	// lat is the node's own latency, for its attempts' derived per-try
	// timeout (pertry.go): its answers' whole time from sending, as the
	// service's latency takes them, not the round trips above.
	lat latencyEstimate
}

func newNodeLimit(s *LimitSettings, now time.Time) *nodeLimit {
	nl := &nodeLimit{s: s, value: float64(s.Max), curMin: math.MaxInt64, prevMin: math.MaxInt64,
		halfEnd: now.Add(minRTTWindow / 2), winEnd: now.Add(limitWindow)}
	nl.limit.Store(int64(s.Max))
	nl.used.Store(now.UnixNano())
	return nl
}

// observe folds in an answer that came rtt after its attempt was sent
// (after its body ended, for one with a body: limit_upload.go), and try
// after it was sent, its body included: the node's latency (pertry.go).
func (nl *nodeLimit) observe(rtt, try time.Duration, now time.Time) {
	x := int64(max(rtt, 0))
	nl.used.Store(now.UnixNano())
	n := nl.samples.Add(1)
	nl.mu.Lock()
	defer nl.mu.Unlock()
	nl.lat.observe(try, now)
	nl.rotate(now)
	nl.curMin = min(nl.curMin, x)
	m := min(nl.curMin, nl.prevMin)
	if n >= minRTTSamples {
		nl.minRTT.Store(m)
	}
	rtt = nl.own(rtt, time.Duration(m))
	nl.gradient(nl.reference(time.Duration(m)), rtt, now)
	nl.expect(time.Duration(m), rtt, now, n >= queueSamples)
}

// high returns the node's high latency (latencyEstimate.high), for the
// per-try timeout of an attempt to it (perTry).
func (nl *nodeLimit) high(now time.Time) (time.Duration, bool) {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	return nl.lat.high(now)
}

// own returns the part of a round trip that is the node's: rtt less the
// caller's recent scheduling lag (see internal/schedlag), but never below the
// node's minimum round trip, nor above rtt.
func (nl *nodeLimit) own(rtt, minRTT time.Duration) time.Duration {
	lag := nl.s.Lag()
	if lag <= 0 {
		return rtt
	}
	return max(rtt-lag, min(rtt, minRTT))
}

// atLeast folds in an attempt that ended without an answer rtt after it was
// sent: a lower bound of its round trip. It moves the limit only when even
// that bound shows queueing, and never the minimum round trip.
func (nl *nodeLimit) atLeast(rtt time.Duration, now time.Time) {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	nl.rotate(now)
	m := min(nl.curMin, nl.prevMin)
	if m == math.MaxInt64 {
		return
	}
	ref := nl.reference(time.Duration(m))
	if rtt = nl.own(rtt, time.Duration(m)); rtt <= nl.target(ref) {
		return
	}
	nl.gradient(ref, rtt, now)
	nl.expect(time.Duration(m), rtt, now, nl.samples.Load() >= queueSamples)
}

// expect folds an answer (or a lower bound of one) into the smoothed round
// trip and the smoothed gap between answers, and publishes the gap while
// the round trip shows queueing and enough answers were seen. Few answers
// are enough: a minimum learnt from few is too high if anything, which
// makes the queue show later, not sooner.
func (nl *nodeLimit) expect(minRTT, rtt time.Duration, now time.Time, trusted bool) {
	x := float64(rtt)
	if nl.srtt == 0 {
		nl.srtt = x
	} else {
		nl.srtt = 0.75*nl.srtt + 0.25*x
	}
	if !nl.lastAt.IsZero() {
		g := min(float64(now.Sub(nl.lastAt)), nl.srtt)
		nl.gap = 0.875*nl.gap + 0.125*max(g, 0)
	}
	nl.lastAt = now
	var gap int64
	if trusted {
		ref := float64(nl.reference(minRTT))
		target := float64(nl.target(time.Duration(ref)))
		// Once on, the check stays on until the round trip is back below
		// half-way from the reference to the target: a queue that the
		// smoothed round trip crossed the target down through for an
		// answer is still there, and with the check off only the limit
		// (tens of requests) bounded what came in. Under TestOverload's
		// 3x overload, 300 ms off let 40 requests queue on one node, and
		// 33 of them ran out of their 1 s budget there.
		if nl.srtt > target || nl.interval.Load() > 0 && nl.srtt > (ref+target)/2 {
			gap = max(int64(nl.gap), 1)
		}
	}
	nl.interval.Store(gap)
}

// expected returns how long a request sent to the node now, with inFlight
// requests ahead of it, should take, or 0 when its answers show no
// queueing.
func (nl *nodeLimit) expected(inFlight int64) time.Duration {
	gap := nl.interval.Load()
	if gap == 0 {
		return 0
	}
	return time.Duration(nl.minRTT.Load() + inFlight*gap)
}

// backOff shrinks the limit after a timeout or an overloaded answer, once
// per limitWindow however many come in it: the requests in flight on a node
// that stalls past their per-try timeout, or that answers a burst with 503,
// all say so together, and 64 such back-offs at once took a limit of 1000
// to its minimum (0.9^64), as each answer's gradient did (see gradient).
func (nl *nodeLimit) backOff(now time.Time) {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	if now.Before(nl.backOffEnd) {
		return
	}
	nl.backOffEnd = now.Add(limitWindow)
	nl.set(nl.value * limitBackOff)
}

// rotate starts a new half window when the current one has ended: the
// minimum round trip then forgets what is older than a window, unless the
// node refused requests as full meanwhile. Under an overload that lasts,
// every answer is queued; a minimum re-learnt from them would make the
// queue look normal, and the limit and the queue check would let the
// overload in again.
func (nl *nodeLimit) rotate(now time.Time) {
	if now.Before(nl.halfEnd) {
		return
	}
	switch {
	case nl.refused.Swap(false):
		nl.prevMin = min(nl.prevMin, nl.curMin)
	case now.Sub(nl.halfEnd) >= minRTTWindow/2:
		nl.prevMin = math.MaxInt64 // a whole half window went by without samples
	default:
		nl.prevMin = nl.curMin
	}
	nl.curMin = math.MaxInt64
	nl.halfEnd = now.Add(minRTTWindow / 2)
}

// target is the round trip below which answers show no queueing.
func (nl *nodeLimit) target(minRTT time.Duration) time.Duration {
	return max(time.Duration(nl.s.Tolerance*float64(minRTT)), minRTT+LimitSlack)
}

// gradient folds the gradient of a round trip of rtt, against ref (see
// reference), into the current window, and moves the limit once the window
// has ended, by the mean of its gradients:
//
//	limit = limit × mean gradient + √limit
//
// Moving it by each answer's gradient let one hiccup collapse it: when a
// node (or the machine under it) stalls for a few milliseconds, every
// request in flight comes back late at once, and 64 late answers in a row
// took a limit of 1000 to about 35. The requests over that were then
// refused 503 until it climbed back, hundreds of them a second under a
// closed-loop load, in front of a node that was never overloaded
// (bench/load.sh saw up to 2.5 % of a 10-second run's answers refused so,
// e2e/chaos TestPauses 612 in 8 s). In a
// window's mean, the late answers of a hiccup weigh what they are among
// its answers, while queueing that lasts makes the whole window late and
// halves the limit in each: from Max to Min within a second.
func (nl *nodeLimit) gradient(ref, rtt time.Duration, now time.Time) {
	g := 1.0
	if rtt > 0 {
		g = min(max(float64(nl.target(ref))/float64(rtt), 0.5), 1)
	}
	nl.winSum += g
	nl.winN++
	nl.winRTT += float64(rtt)
	if now.Before(nl.winEnd) {
		return
	}
	mean := nl.winSum / float64(nl.winN)
	nl.set(nl.value*mean + math.Sqrt(nl.value))
	nl.baseline(nl.winRTT/float64(nl.winN), mean >= onTime)
	nl.winSum, nl.winN, nl.winRTT = 0, 0, 0
	nl.winEnd = now.Add(limitWindow)
}

// reference returns the round trip that answers are judged against for
// the limit: the node's baseline once a window has set it, its minimum
// round trip before.
func (nl *nodeLimit) reference(minRTT time.Duration) time.Duration {
	if nl.base > 0 {
		return time.Duration(nl.base)
	}
	return minRTT
}

// baseline folds mean, the mean round trip of a window's answers, into the
// node's baseline: by baselineWeight when they were on time (onTime says
// so), by baselineLateWeight when they were late, and not at all when the
// node refused requests as full in the window.
//
// The baseline is what the limit and the queue check judge answers
// against, as Gradient2's long-term average is in Netflix's
// concurrency-limits: the node's usual round trip, over the mix of
// requests it serves. Judged against its minimum round trip, as they were,
// a node that serves requests of different costs looked like a queue. Its
// cheapest kind (a ping, a cached read at 1 ms) set the minimum, every
// costlier answer (20 to 40 ms) came "late", the limit fell to its floor,
// 20, and refused the requests over it in front of a healthy node: 741 of
// 2,050 calls of 40 callers (TestMixedCostsAreNoQueue in e2e/hostile). And
// the queue check read 50 reports of 3 s, served side by side, as a queue
// 3 s long, and refused 26 of 30 cheap calls (TestSlowRequestsAreNoQueue).
//
// Queueing that starts shows as answers late against the baseline, so the
// limit falls (halving in each late window) and the queue check reads the
// queue. Late windows move the baseline ten times more slowly than others:
// at the same weight, the baseline rose with the queue an overload starts
// before the limit binds, the queue check stopped reading it, and requests
// admitted into it ran out of their budget (e2e/chaos TestOverload: up to
// 282 of 942). A window in which the node refused requests does not move
// it, so an overload that lasts is never learnt as the norm; a node that
// became slower for good is still learnt, within a minute. The minimum
// round trip still serves what it is right for: the queue's start in the
// queue check's estimate, and the budget below which a node cannot answer.
func (nl *nodeLimit) baseline(mean float64, onTime bool) {
	if nl.refusedWin.Swap(false) {
		return
	}
	if nl.base == 0 {
		nl.base = mean
		return
	}
	w := baselineWeight
	if !onTime {
		w = baselineLateWeight
	}
	nl.base += w * (mean - nl.base)
}

// set stores v, clamped, as the limit.
func (nl *nodeLimit) set(v float64) {
	v = min(max(v, float64(nl.s.Min)), float64(nl.s.Max))
	nl.value = v
	nl.limit.Store(int64(v))
}
