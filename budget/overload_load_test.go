package budget_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// TestAnOverloadedBackendKeepsItsGoodput offers a backend behind Inbound,
// through a real HTTP server, three times the requests it can serve: each
// needs about 10 ms of CPU, and its caller gives it a budget of 1 s and
// gives up then, as a caller reaching the backend directly does. Without
// shedding (ShedLag -1), every request in flight shares the CPU and runs
// out of budget with the others: about 14 % of the capacity was answered
// in time in a separate process, none at all in this one, on a busy 2-core
// machine; with the default policy, 14 to 130 % (half the runs over 60 %),
// under a load average of 10 to 13 that starved the whole process, callers
// included, of CPU, which hides part of its lag from the Go scheduler (a
// goroutine woken while no thread of the process runs is counted as
// waiting only once one does). Both run here, one after the other, and
// the default policy must answer more in time than no shedding: a bound
// on the rate itself would judge the machine's load as much as the
// backend.
func TestAnOverloadedBackendKeepsItsGoodput(t *testing.T) {
	if testing.Short() {
		t.Skip("a load of several seconds")
	}
	iterations := calibrate(10 * time.Millisecond)
	off := goodputUnderOverload(t, budget.ServerPolicy{ShedLag: -1}, iterations)
	on := goodputUnderOverload(t, budget.ServerPolicy{}, iterations)
	if on <= off {
		t.Errorf("goodput under a 3x overload %.1f/s with the default policy, %.1f/s without shedding: want more with it", on, off)
	}
}

// goodputUnderOverload serves a handler of iterations of spin behind
// Inbound(p), offers it three times its capacity for 4 s, and returns the
// requests a second answered within their 1 s budget, past the first
// second.
func goodputUnderOverload(t *testing.T, p budget.ServerPolicy, iterations int) float64 {
	t.Helper()
	const (
		budget1 = time.Second
		run     = 4 * time.Second
		warmup  = time.Second
	)
	var sink atomic.Int64
	srv := httptest.NewServer(budget.Inbound(p)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			sink.Add(int64(spin(iterations)))
			io.WriteString(w, "ok")
		})))
	defer srv.Close()
	c := &callers{url: srv.URL, budget: budget1,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096}}}
	defer c.client.CloseIdleConnections()

	// The capacity: as many callers as processors, one request at a time.
	capacity := c.closedLoop(runtime.GOMAXPROCS(0), time.Second)
	if capacity < 2 {
		t.Skipf("the backend serves %.1f requests a second: the machine is too busy to overload it", capacity)
	}
	offered := 3 * capacity
	hits := c.openLoop(offered, run)
	var ok, late, shed, failed, sent int
	for _, h := range hits {
		if h.start.Before(hits[0].start.Add(warmup)) {
			continue
		}
		sent++
		switch {
		case h.status == http.StatusOK && h.took <= budget1:
			ok++
		case h.status == http.StatusOK:
			late++
		case h.status == http.StatusServiceUnavailable:
			shed++
		default:
			failed++
		}
	}
	goodput := float64(ok) / (run - warmup).Seconds()
	defer func() {
		// Callers too starved to send twice the capacity overload nothing,
		// and the comparison would judge the machine.
		if rate := float64(sent) / (run - warmup).Seconds(); rate < 2*capacity {
			t.Skipf("the callers sent %.0f/s, not twice the capacity (%.0f/s): the machine is too busy to overload the backend", rate, capacity)
		}
	}()
	t.Logf("ShedLag %v: capacity %.0f/s, offered %.0f/s (sent %.0f/s): goodput %.1f/s (%.0f %% of the capacity), %d late, %d shed, %d failed or timed out",
		p.ShedLag, capacity, offered, float64(sent)/(run-warmup).Seconds(), goodput, 100*goodput/capacity, late, shed, failed)
	return goodput
}

// calibrate returns how many iterations of spin take about d alone: the
// least of several timings, the others being stretched by whatever else
// the machine ran meanwhile.
func calibrate(d time.Duration) int {
	const n = 1 << 20
	least := time.Duration(1<<63 - 1)
	for range 20 {
		start := time.Now()
		spin(n)
		least = min(least, time.Since(start))
	}
	return int(float64(n) * float64(d) / float64(max(least, 1)))
}

// spin is CPU work the compiler cannot drop.
func spin(n int) int {
	x := 1
	for i := range n {
		x = x*31 + i
	}
	return x
}

// callers send requests to one URL, each with a budget its caller waits
// for no longer.
type callers struct {
	url    string
	budget time.Duration
	client *http.Client
}

// hit is one request and its outcome: status 0 when it timed out.
type hit struct {
	start  time.Time
	took   time.Duration
	status int
}

func (c *callers) call() hit {
	h := hit{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), c.budget)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader("{}"))
	req.Header.Set(budget.HeaderName, fmt.Sprintf("ms=%d", c.budget.Milliseconds()))
	if rsp, err := c.client.Do(req); err == nil {
		_, err = io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		if err == nil {
			h.status = rsp.StatusCode
		}
	}
	h.took = time.Since(h.start)
	return h
}

// closedLoop returns the successes a second of n callers sending one
// request after another for d.
func (c *callers) closedLoop(n int, d time.Duration) float64 {
	var ok atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(end) {
				if c.call().status == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(ok.Load()) / d.Seconds()
}

// openLoop sends rate requests a second, evenly spaced, for d, whatever
// the answers, and returns them all once the last has ended.
func (c *callers) openLoop(rate float64, d time.Duration) []hit {
	gap := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var hits []hit
	var wg sync.WaitGroup
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		wg.Go(func() {
			h := c.call()
			mu.Lock()
			hits = append(hits, h)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(hits, func(i, j int) bool { return hits[i].start.Before(hits[j].start) })
	return hits
}
