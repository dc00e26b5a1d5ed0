package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// hit is one request of a load and what came back.
type hit struct {
	method, id string
	start, end time.Time
	status     int
	typ        string // the problem type of a failure
	retry      string // the answer's Sluice-Retry field
	retryAfter string // the answer's Retry-After field
	node       string // the node that answered a success
	retries    int    // the retries spent before that node, as it was told
	err        error  // a transport failure, or an answer that did not decode
}

// ok reports a success answered by a node.
func (h hit) ok() bool { return h.err == nil && h.status == http.StatusOK && h.node != "" }

func (h hit) String() string {
	at := h.start.Format("15:04:05.000")
	if h.err != nil {
		return fmt.Sprintf("%s %s at %s: %v", h.method, h.id, at, h.err)
	}
	return fmt.Sprintf("%s %s at %s (%s): %d %s (Sluice-Retry %q)", h.method, h.id, at,
		h.end.Sub(h.start).Round(time.Millisecond), h.status, h.typ, h.retry)
}

// request is what a load sends for its i-th tick.
type request struct {
	method, path, id string
	header           http.Header
}

// load sends requests at a fixed mean rate, as a Poisson process, from a
// pool of workers for at most a given time, and keeps every answer. A tick that finds every worker busy is
// counted as skipped, not queued, so the load never floods a stuck gateway;
// scenarios size the pool so that no tick is skipped.
type load struct {
	client  *http.Client
	quit    chan struct{}
	done    chan struct{}
	stopper sync.Once
	sent    time.Time // when the first request started

	mu      sync.Mutex
	hits    []hit
	skipped int
}

// startLoad starts rate requests a second, made by next, against base until
// limit passes or stop is called; workers bounds the requests in flight. The
// test's cleanup stops it.
func startLoad(t *testing.T, base string, rate, workers int, limit time.Duration, next func(i int) request) *load {
	t.Helper()
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers, IdleConnTimeout: 30 * time.Second}
	l := &load{
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		sent:   time.Now(),
	}
	tokens := make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(tokens)
		end := time.NewTimer(limit)
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
			// Arrivals are a Poisson process: loads started side by side
			// do not lock into step, as independent clients would not.
			at = at.Add(time.Duration(rand.ExpFloat64() / float64(rate) * float64(time.Second)))
			wait.Reset(max(0, time.Until(at)))
			select {
			case tokens <- i:
			default:
				l.mu.Lock()
				l.skipped++
				l.mu.Unlock()
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for i := range tokens {
				l.do(base, next(i))
			}
		})
	}
	go func() {
		wg.Wait()
		tr.CloseIdleConnections()
		close(l.done)
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *load) do(base string, r request) {
	h := hit{method: r.method, id: r.id, start: time.Now()}
	req, err := http.NewRequest(r.method, base+r.path, nil)
	if err == nil {
		for k, v := range r.header {
			req.Header[k] = v
		}
		var resp *http.Response
		if resp, err = l.client.Do(req); err == nil {
			h.status = resp.StatusCode
			h.retry = resp.Header.Get("Sluice-Retry")
			h.retryAfter = resp.Header.Get("Retry-After")
			var b []byte
			if b, err = io.ReadAll(resp.Body); err == nil {
				var body struct {
					Node    string `json:"node"`
					Retries int    `json:"retries"`
					Type    string `json:"type"`
				}
				if jerr := json.Unmarshal(b, &body); jerr != nil {
					err = fmt.Errorf("status %d, body %q: %w", resp.StatusCode, b, jerr)
				}
				h.typ = body.Type
				if h.status == http.StatusOK {
					h.node, h.retries = body.Node, body.Retries
				}
			}
			resp.Body.Close()
		}
	}
	h.err, h.end = err, time.Now()
	l.mu.Lock()
	l.hits = append(l.hits, h)
	l.mu.Unlock()
}

// stop ends the load and waits for the requests in flight.
func (l *load) stop() {
	l.stopper.Do(func() { close(l.quit) })
	<-l.done
}

// snapshot returns the hits so far; the slice is never written again.
func (l *load) snapshot() []hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[:len(l.hits):len(l.hits)]
}

// skips returns how many ticks found every worker busy.
func (l *load) skips() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.skipped
}

// waitServed waits until each node has answered n successes started at or
// after since.
func (l *load) waitServed(t *testing.T, since time.Time, n int, within time.Duration, nodes ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d answers from each of %v", n, nodes), within, func() bool {
		seen := map[string]int{}
		for _, h := range l.snapshot() {
			if h.ok() && !h.start.Before(since) {
				seen[h.node]++
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

// getsAndPosts alternates GET /work/gN and POST /write/pN, ids unique in the
// load.
func getsAndPosts(header http.Header) func(i int) request {
	return func(i int) request {
		if i%2 == 0 {
			id := "g" + strconv.Itoa(i)
			return request{method: http.MethodGet, path: "/work/" + id, id: id, header: header}
		}
		id := "p" + strconv.Itoa(i)
		return request{method: http.MethodPost, path: "/write/" + id, id: id, header: header}
	}
}

// gets sends GET prefix+gN.
func gets(prefix string, header http.Header) func(i int) request {
	return func(i int) request {
		id := "g" + strconv.Itoa(i)
		return request{method: http.MethodGet, path: prefix + id, id: id, header: header}
	}
}

// budgetHeader asks the gateway for a budget of d.
func budgetHeader(d time.Duration) http.Header {
	return http.Header{"Sluice-Budget": {"ms=" + strconv.FormatInt(d.Milliseconds(), 10)}}
}

// workers sizes a load's pool: enough for rate requests a second that each
// take up to perRequest.
func workers(rate int, perRequest time.Duration) int {
	return max(8, int(float64(rate)*perRequest.Seconds()*1.5)+1)
}
