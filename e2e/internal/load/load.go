// Package load is the load generator of the end-to-end suites: requests
// sent through a gateway at a fixed mean rate from a bounded pool of
// workers, every answer kept with its timing, its status and the node
// that served it. It is the one way both e2e (its Consul scenarios) and
// e2e/chaos (every fault) drive traffic and read back what happened.
//
// A tick that finds every worker busy is counted as skipped, not queued,
// so a load never floods a stuck gateway and never hides that it could not
// keep its rate: a scenario sizes its pool so that no tick is skipped, or
// reports Skipped.
package load

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Config describes a load.
type Config struct {
	// Rate is the mean number of requests a second.
	Rate int
	// Workers bounds the requests in flight.
	Workers int
	// Limit is how long the load runs unless stopped first.
	Limit time.Duration
	// Poisson spaces the requests as a Poisson process of mean Rate, so
	// that loads started side by side do not lock into step, as
	// independent clients would not. Otherwise they are evenly spaced.
	// Either way the schedule is kept: a tick that comes late is followed
	// by the next one on time.
	Poisson bool
	// Timeout bounds each request, its body read; zero is 30 seconds.
	Timeout time.Duration
	// Next returns the request of the i-th tick (0 first).
	Next func(i int) Request
	// Decode reads an answer's body into h (Node, Retries, Type, by what
	// the backends of a suite put in their answers); h.Status, h.Retry
	// and h.RetryAfter are set when it is called. An error it returns is
	// kept as h.Err: an answer the test cannot read is a failure. Nil:
	// the body is read and dropped.
	Decode func(h *Hit, body []byte) error
}

// Load is a running load generator.
type Load struct {
	cfg     Config
	base    string
	client  *http.Client
	started time.Time
	quit    chan struct{}
	done    chan struct{}
	stopper sync.Once

	mu      sync.Mutex
	hits    []Hit
	skipped int
}

// Start sends cfg.Rate requests a second, each made by cfg.Next, against
// base (a URL without a trailing slash) until cfg.Limit passes or Stop is
// called. The test's cleanup stops it.
func Start(t testing.TB, base string, cfg Config) *Load {
	t.Helper()
	if cfg.Rate <= 0 || cfg.Workers <= 0 || cfg.Next == nil {
		t.Fatalf("load: Rate %d and Workers %d must be positive and Next set", cfg.Rate, cfg.Workers)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: cfg.Workers, IdleConnTimeout: 30 * time.Second}
	l := &Load{
		cfg:     cfg,
		base:    base,
		client:  &http.Client{Transport: tr, Timeout: cfg.Timeout},
		started: time.Now(),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	tokens := make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(tokens)
		l.tick(tokens)
	})
	for range cfg.Workers {
		wg.Go(func() {
			for i := range tokens {
				l.do(cfg.Next(i))
			}
		})
	}
	go func() {
		wg.Wait()
		tr.CloseIdleConnections()
		close(l.done)
	}()
	t.Cleanup(l.Stop)
	return l
}

// tick hands the workers the tick numbers on schedule until the limit or
// Stop, counting the ticks no worker was free for.
func (l *Load) tick(tokens chan<- int) {
	end := time.NewTimer(l.cfg.Limit)
	defer end.Stop()
	wait := time.NewTimer(0)
	defer wait.Stop()
	at := time.Now()
	for i := 0; ; i++ {
		select {
		case <-l.quit:
			return
		case <-end.C:
			return
		case <-wait.C:
		}
		at = at.Add(l.gap())
		wait.Reset(max(0, time.Until(at)))
		select {
		case tokens <- i:
		default:
			l.mu.Lock()
			l.skipped++
			l.mu.Unlock()
		}
	}
}

// gap returns the time from one tick to the next.
func (l *Load) gap() time.Duration {
	if l.cfg.Poisson {
		return time.Duration(rand.ExpFloat64() / float64(l.cfg.Rate) * float64(time.Second))
	}
	return time.Second / time.Duration(l.cfg.Rate)
}

// do sends r and keeps what came back.
func (l *Load) do(r Request) {
	h := Hit{Request: r, Start: time.Now()}
	// Told on the transport's writing goroutine, read once Do returns: an
	// atomic, since nothing orders the two.
	var sent atomic.Pointer[time.Time]
	req, err := http.NewRequest(r.Method, l.base+r.Path, nil)
	if err == nil {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteHeaders: func() { now := time.Now(); sent.Store(&now) },
		}))
		for k, v := range r.Header {
			req.Header[k] = v
		}
		var resp *http.Response
		if resp, err = l.client.Do(req); err == nil {
			h.Status = resp.StatusCode
			h.Retry = resp.Header.Get("Sluice-Retry")
			h.RetryAfter = resp.Header.Get("Retry-After")
			var b []byte
			if b, err = io.ReadAll(resp.Body); err == nil && l.cfg.Decode != nil {
				err = l.cfg.Decode(&h, b)
			}
			resp.Body.Close()
		}
	}
	h.Err, h.End = err, time.Now()
	if at := sent.Load(); at != nil {
		h.Sent = *at
	}
	l.mu.Lock()
	l.hits = append(l.hits, h)
	l.mu.Unlock()
}

// Stop ends the load and waits for the requests in flight.
func (l *Load) Stop() {
	l.stopper.Do(func() { close(l.quit) })
	<-l.done
}

// Wait waits for the load to reach its limit and its last requests to
// end, failing the test if that takes a minute longer than the limit.
func (l *Load) Wait(t testing.TB) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(l.cfg.Limit + time.Minute):
		t.Fatal("load: the load generator did not finish")
	}
}

// Started returns when the load began.
func (l *Load) Started() time.Time { return l.started }

// Hits returns the hits so far, in the order they ended. Hits are only
// appended, so the slice returned is never written again.
func (l *Load) Hits() []Hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[:len(l.hits):len(l.hits)]
}

// Skipped returns how many ticks found every worker busy.
func (l *Load) Skipped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.skipped
}

// WaitFor checks the hits every 25 ms until cond accepts them, failing the
// test after within; it returns how long that took.
func (l *Load) WaitFor(t testing.TB, what string, within time.Duration, cond func([]Hit) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond(l.Hits()) {
		if time.Since(start) > within {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

// WaitServed waits until each of nodes has answered n successes started
// at or after since.
func (l *Load) WaitServed(t testing.TB, since time.Time, n int, within time.Duration, nodes ...string) {
	t.Helper()
	l.WaitFor(t, fmt.Sprintf("%d answers from each of %v", n, nodes), within, func(hs []Hit) bool {
		seen := map[string]int{}
		for _, h := range Since(hs, since) {
			if h.OK() {
				seen[h.Node]++
			}
		}
		for _, node := range nodes {
			if seen[node] < n {
				return false
			}
		}
		return true
	})
}
