package redislimit_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/redislimit"
	"github.com/sluicehq/sluice/redislimit/redistest"
)

func newStore(t *testing.T, addr string, o redislimit.Options) *redislimit.Store {
	t.Helper()
	o.Addr = addr
	s, err := redislimit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// redisMicros returns Redis's clock in microseconds, asked on c.
func redisMicros(t *testing.T, c net.Conn) int64 {
	t.Helper()
	// TIME answers a two-element array; read it whole.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("TIME\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	n, err := c.Read(buf)
	for err == nil && strings.Count(string(buf[:n]), "\r\n") < 5 {
		var m int
		m, err = c.Read(buf[n:])
		n += m
	}
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(string(buf[:n]), "\r\n") // *2 $10 secs $6 micros
	sec, err1 := strconv.ParseInt(f[2], 10, 64)
	us, err2 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("TIME reply %q", buf[:n])
	}
	return sec*1e6 + us
}

// TestGCRABurst: a quiet key gets its burst at once, the remaining count
// going down by one each time, then a refusal that says when the next
// request is allowed and when the bucket is full; a refusal costs nothing.
func TestGCRABurst(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Addr, redislimit.Options{Timeout: time.Second})
	ctx := context.Background()
	const rps, burst = 0.1, 5 // one token every 10 s: the test's own time is negligible
	for i := range burst {
		d, err := s.Allow(ctx, "burst", rps, burst)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Remaining != burst-1-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, burst-1-i)
		}
		if want := time.Duration(i+1) * 10 * time.Second; d.ResetAfter > want || d.ResetAfter < want-time.Second {
			t.Fatalf("request %d: reset after %v, want about %v", i+1, d.ResetAfter, want)
		}
	}
	for range 3 {
		d, err := s.Allow(ctx, "burst", rps, burst)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed || d.Remaining != 0 {
			t.Fatalf("over the burst: %+v, want refused", d)
		}
		if d.RetryAfter > 10*time.Second || d.RetryAfter < 9*time.Second {
			t.Fatalf("retry after %v, want just under 10s", d.RetryAfter)
		}
		if d.ResetAfter > 50*time.Second || d.ResetAfter < 49*time.Second {
			t.Fatalf("reset after %v, want just under 50s (refusals must not count)", d.ResetAfter)
		}
	}
	// Another key has its own bucket.
	if d, err := s.Allow(ctx, "other", rps, burst); err != nil || !d.Allowed || d.Remaining != burst-1 {
		t.Fatalf("other key: %+v, %v", d, err)
	}
	// The state is one key, which expires when the bucket would be full.
	pttl, err := strconv.Atoi(strings.TrimPrefix(srv.Do(t, "PTTL", redislimit.DefaultPrefix+"burst"), ":"))
	if err != nil || pttl <= 40_000 || pttl > 50_000 {
		t.Fatalf("PTTL = %d (%v), want in (40000, 50000] ms", pttl, err)
	}
}

// TestGCRAExactOverWindow: a key asked without pause for a second gets
// exactly its burst plus rps per second of Redis time, less the tokens a
// pause of the asking let go to waste or left in the bucket at the end,
// within one request.
func TestGCRAExactOverWindow(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Addr, redislimit.Options{Timeout: time.Second})
	ctx := context.Background()
	// A burst of 50 holds 250 ms of tokens: a pause of the asking loop
	// (a loaded machine, the race detector) shorter than that loses none,
	// and a longer one is counted below.
	const rps, burst = 200, 50
	// Dial and load the script first, so that the window holds only calls.
	if _, err := s.Allow(ctx, "warm-up", rps, burst); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := redisMicros(t, c)
	allowed, asked := 0, 0
	var firstDone, lastStart, prevStart time.Time
	// lost bounds the tokens that a pause of this loop let go to waste: a
	// full bucket stops filling. After a call that left Remaining tokens
	// (rounded down), the bucket is full at the earliest (burst-Remaining-1)/rps
	// later; the time between two calls in Redis is at most the time from
	// the first's sending to the second's answer.
	lost, prevRemaining := 0.0, 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); asked++ {
		lastStart = time.Now()
		d, err := s.Allow(ctx, "steady", rps, burst)
		if err != nil {
			t.Fatal(err)
		}
		done := time.Now()
		if firstDone.IsZero() {
			firstDone = done
		} else {
			lost += max(0, rps*done.Sub(prevStart).Seconds()-float64(burst-prevRemaining-1))
		}
		prevStart, prevRemaining = lastStart, d.Remaining
		if d.Allowed {
			allowed++
		}
	}
	t1 := redisMicros(t, c)
	// The calls ran in Redis within [t0, t1], and over at least the time
	// from the first call's answer to the last call's sending.
	outer, inner := float64(t1-t0)/1e6, lastStart.Sub(firstDone).Seconds()
	// The tokens still in the bucket after the last call were earned but
	// not asked for: fewer than its Remaining plus one. A pause of the loop
	// just before its end (the scheduler giving the core to another
	// process) leaves a few, which no request of the window could take.
	left := prevRemaining
	t.Logf("asked %d, allowed %d; calls' window between %.4f and %.4f s: burst + rps*window in [%.2f, %.2f]; at most %.2f tokens lost to pauses, %d left at the end",
		asked, allowed, inner, outer, burst+rps*inner, burst+rps*outer, lost, left)
	if float64(allowed) > burst+rps*outer+1 {
		t.Fatalf("allowed %d, more than burst + rps*window", allowed)
	}
	// The lower bound holds when the key was asked faster than its rate
	// all along; a machine too slow for that leaves only the upper one.
	if asked >= 2*allowed && float64(allowed) < burst+rps*inner-lost-float64(left)-1 {
		t.Fatalf("allowed %d, want burst + rps*window within one request", allowed)
	}
}

// TestUnreachableFailsFastThenBreaks: with nothing listening, a decision
// fails within the Store's timeout; after Failures of them the breaker
// answers at once without trying; and when Redis appears at the address
// the background probe finds it and closes the breaker by itself.
func TestUnreachableFailsFastThenBreaks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// A cooldown long enough that the call after the opening one finds the
	// breaker still open on a loaded machine (at 50 ms it was at times
	// half-open, and tried).
	s := newStore(t, addr, redislimit.Options{Timeout: 20 * time.Millisecond, Failures: 2, Cooldown: time.Second})
	for i := range 2 {
		start := time.Now()
		_, err := s.Allow(context.Background(), "k", 10, 1)
		if err == nil || errors.Is(err, redislimit.ErrUnavailable) {
			t.Fatalf("try %d: err = %v, want a connection error", i, err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("try %d took %v", i, el)
		}
	}
	if st := s.State(); st != redislimit.StateOpen {
		t.Fatalf("state %s, want open", st)
	}
	// ErrUnavailable, not a connection error: the open breaker answered
	// without trying (nothing listens at addr).
	if _, err := s.Allow(context.Background(), "k", 10, 1); !errors.Is(err, redislimit.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	redistest.StartAt(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for s.State() != redislimit.StateClosed {
		if time.Now().After(deadline) {
			t.Fatal("the probe did not find Redis back within 10 s")
		}
		time.Sleep(10 * time.Millisecond) // polling the condition
	}
	if d, err := s.Allow(context.Background(), "k", 10, 1); err != nil || !d.Allowed {
		t.Fatalf("after the probe: %+v, %v", d, err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []redislimit.Options{{}, {Addr: "x:1", Timeout: -1}, {Addr: "x:1", Failures: -1}} {
		if _, err := redislimit.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func startRedis(t *testing.T) *redistest.Server { return redistest.Start(t) }

// TestSlowRedisLateAnswerIsDropped: a Redis that answers after the timeout
// (DEBUG SLEEP blocks it) costs a decision the timeout, not more; and the
// late answer is never read as the answer of a later decision (the
// connection it was due on is dropped). A decision that timed out may
// still have been counted by Redis, as with any remote counter.
func TestSlowRedisLateAnswerIsDropped(t *testing.T) {
	srv := startRedis(t)
	s := newStore(t, srv.Addr, redislimit.Options{Timeout: 50 * time.Millisecond, Failures: 1000})
	ctx := context.Background()
	const rps, burst = 0.001, 100
	if d, err := s.Allow(ctx, "slow", rps, burst); err != nil || d.Remaining != burst-1 {
		t.Fatalf("first: %+v, %v", d, err)
	}
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("DEBUG SLEEP 0.5\r\n")); err != nil {
		t.Fatal(err)
	}
	// Wait until Redis is asleep: a PING on another connection goes
	// unanswered.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = p.SetDeadline(time.Now().Add(20 * time.Millisecond))
		_, _ = p.Write([]byte("PING\r\n"))
		_, err = p.Read(make([]byte, 16))
		p.Close()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("DEBUG SLEEP did not take effect")
		}
	}
	start := time.Now()
	_, err = s.Allow(ctx, "slow", rps, burst)
	if took := time.Since(start); err == nil || took > 500*time.Millisecond {
		t.Fatalf("decision during the sleep: err %v after %v, want a timeout after about 50ms", err, took)
	}
	// Once Redis is awake, answers line up with their requests: the one
	// that timed out was executed late (98 left), this one leaves 97.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 16)); err != nil {
		t.Fatalf("DEBUG SLEEP's answer: %v", err)
	}
	for want := burst - 3; want > burst-6; want-- {
		d, err := s.Allow(ctx, "slow", rps, burst)
		if err != nil || !d.Allowed || d.Remaining != want {
			t.Fatalf("after the sleep: %+v, %v; want allowed with %d remaining", d, err, want)
		}
	}
}

// TestCountReplicas: stores that count replicas see each other through
// Redis, see one that stopped go after three heartbeats, and keep the
// last count while Redis is stopped.
func TestCountReplicas(t *testing.T) {
	srv := startRedis(t)
	var stores []*redislimit.Store
	for _, id := range []string{"a", "b", "c"} {
		s := newStore(t, srv.Addr, redislimit.Options{Timeout: time.Second})
		s.CountReplicas(id)
		stores = append(stores, s)
	}
	waitCount := func(ss []*redislimit.Store, want int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for _, s := range ss {
			for s.Replicas() != want {
				if time.Now().After(deadline) {
					t.Fatalf("Replicas() = %d, want %d", s.Replicas(), want)
				}
				time.Sleep(20 * time.Millisecond) // polling the condition
			}
		}
	}
	waitCount(stores, 3)
	_ = stores[2].Close() // its heartbeat stops
	waitCount(stores[:2], 2)
	srv.Pause(t)
	// Two heartbeats fail meanwhile: the count stays.
	time.Sleep(2 * redislimit.HeartbeatEvery) // let heartbeats fail; nothing to wait for
	for _, s := range stores[:2] {
		if n := s.Replicas(); n != 2 {
			t.Fatalf("with Redis stopped: Replicas() = %d, want the last count, 2", n)
		}
	}
	srv.Resume(t)
}

// TestWarmWaitsOutASlowStart: Warm's commands are bounded by the store's
// timeout (5 ms by default) whatever its context allows, and one try
// against a Redis that is slow for a moment failed, on a loaded machine,
// where the gateway gives Warm 2 s. Warm tries again until its context
// ends: against a stopped Redis its tries fail, and once Redis goes on the
// next one warms the store.
func TestWarmWaitsOutASlowStart(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.Addr, redislimit.Options{})
	failed := make(chan error, 1)
	redislimit.SetWarmTried(s, func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	srv.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	warmed := make(chan error, 1)
	go func() { warmed <- s.Warm(ctx) }()
	select {
	case err := <-failed:
		t.Logf("a try against the stopped Redis: %v", err)
	case err := <-warmed:
		srv.Resume(t)
		t.Fatalf("Warm returned %v with Redis stopped, want it to try again", err)
	}
	srv.Resume(t)
	if err := <-warmed; err != nil {
		t.Fatalf("Warm after Redis went on: %v", err)
	}
}
