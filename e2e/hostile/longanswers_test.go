package hostile

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLongAnswersDoNotLookLikeAQueue: a service whose nodes hold many long
// answers open (server-sent events, a download to a slow client) and also
// answer short calls whose time varies (5 to 45 ms). The long answers'
// heads came long ago: they are no queue ahead of a new call. With the
// defaults, 150 of them open made the concurrency limits' queue check
// (minimum round trip plus one gap between answers per request in flight)
// refuse every short call 503 overloaded: it counted them as requests in
// flight ahead of it. Every short call must be answered.
func TestLongAnswersDoNotLookLikeAQueue(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/la/events") {
			w.Header().Set("Content-Type", "text/event-stream")
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				if _, err := io.WriteString(w, "data: tick\n\n"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
			}
		}
		time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond) // a call's own work, which varies
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	addrs := serviceGateway(t, "sluice", "la", backend.URL)
	viewers := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	const streams = 150
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := make(chan struct{})
	defer close(stop)
	opened := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			resp, err := viewers.Get(fmt.Sprintf("http://%s/la/events/%d", addrs[0], i))
			if err != nil {
				opened <- err
				return
			}
			defer resp.Body.Close()
			var first [1]byte
			if _, err := io.ReadFull(resp.Body, first[:]); err != nil || resp.StatusCode != http.StatusOK {
				opened <- fmt.Errorf("event stream %d: %d, %v", i, resp.StatusCode, err)
				return
			}
			opened <- nil
			go func() { <-stop; resp.Body.Close() }()
			io.Copy(io.Discard, resp.Body)
		})
	}
	for range streams {
		if err := <-opened; err != nil {
			t.Fatal(err)
		}
	}
	caller := clientFrom("127.0.0.2")
	refused := 0
	for i := range 60 {
		code, body := getFrom(t, caller, fmt.Sprintf("http://%s/la/work/%d", addrs[0], i))
		if code != http.StatusOK {
			refused++
			if refused <= 3 {
				t.Errorf("call %d with %d long answers open: %d %s", i, streams, code, body)
			}
		}
	}
	if refused > 0 {
		t.Errorf("%d of 60 short calls refused", refused)
	}
}

// TestMixedCostsAreNoQueue: a healthy node serves a cheap request (a ping,
// a cached read: at once) and a costlier one (20 to 40 ms), 40 of the
// costlier at a time. The concurrency limit judged every answer against
// the node's fastest, so the costlier answers all looked queued, the limit
// fell to its floor of 20, and with the defaults most calls were refused
// 503 overloaded (2,996 answered, 58,868 refused in 4 s). Every call must
// be answered.
func TestMixedCostsAreNoQueue(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/mc/ping") {
			time.Sleep(time.Duration(20+rand.IntN(20)) * time.Millisecond)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	addrs := serviceGateway(t, "sluice", "mc", backend.URL)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var refused, answered atomic.Int64
	var wg sync.WaitGroup
	for w := range 41 {
		wg.Go(func() {
			path := "/mc/work/"
			if w == 40 {
				path = "/mc/ping/"
			}
			for i := range 50 {
				resp, err := c.Get(fmt.Sprintf("http://%s%s%d", addrs[0], path, i))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					refused.Add(1)
					continue
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Errorf("%d of %d calls to a healthy node refused", n, n+answered.Load())
	}
}

// TestSlowRequestsAreNoQueue: 50 clients each keep a costly request (3 s:
// a report, an export) in flight on a node that serves them side by side,
// and another client makes a cheap one now and then. The queue check read
// the requests waiting on the node as a queue ahead of a new one (its
// minimum round trip plus one gap between answers for each), which it is
// only when answers come later than the node's usual: these came as usual,
// yet 26 of 30 cheap calls were refused 503 overloaded in front of a
// healthy node. Every call must be answered.
func TestSlowRequestsAreNoQueue(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sq/report") {
			time.Sleep(3 * time.Second) // the request's own work
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	addrs := serviceGateway(t, "sluice", "sq", backend.URL)
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := make(chan struct{})
	defer close(stop)
	var reports atomic.Int64
	for i := range 50 {
		c := clientFrom(fmt.Sprintf("127.0.2.%d", i+1))
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 60 * time.Millisecond) // the clients spread over 3 s, as independent ones are
			keepCalling(stop, c, fmt.Sprintf("http://%s/sq/report/%d", addrs[0], i), 100*time.Millisecond, func() { reports.Add(1) })
		})
	}
	for reports.Load() < 50 { // every client's first report is done: the node's pace learnt
		time.Sleep(10 * time.Millisecond) // polling a condition, not waiting for luck
	}
	caller := clientFrom("127.0.0.2")
	refused := 0
	for i := range 30 {
		code, body := getFrom(t, caller, fmt.Sprintf("http://%s/sq/cheap/%d", addrs[0], i))
		if code != http.StatusOK {
			if refused++; refused <= 3 {
				t.Errorf("cheap call %d with 50 reports in flight: %d %s", i, code, body)
			}
		}
		time.Sleep(300 * time.Millisecond) // the caller's pace
	}
	if refused > 0 {
		t.Errorf("%d of 30 cheap calls refused", refused)
	}
}
