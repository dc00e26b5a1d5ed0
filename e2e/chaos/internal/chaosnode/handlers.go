package main

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// settings are the faults a node is told to have; they are swapped whole.
type settings struct {
	delay time.Duration // service time of every request
	fail  float64       // share of requests answered 503
	cut   float64       // share of answers cut short: 200, then the connection drops mid-body
}

// node serves the chaos suite's requests and counts them.
type node struct {
	addr  string
	set   atomic.Pointer[settings]
	slots chan struct{} // nil: no concurrency limit
	// paused is write-locked while the node pauses: every answer due
	// meanwhile waits for its read lock.
	paused sync.RWMutex
	next   string // the service /work calls instead of working
	up     *upstream.Client

	logMu sync.Mutex
	log   *os.File // the write log, or nil

	requests atomic.Int64 // /work and /write requests received
	failed   atomic.Int64 // of which answered with a failure
	first    atomic.Int64 // Unix ns of the first one, 0 before
}

// answer is the body of a successful /work or /write.
type answer struct {
	Node    string `json:"node"`
	ID      string `json:"id"`
	Hop     int    `json:"hop"`
	Retries int    `json:"retries"`
}

// stats is the body of GET /_chaos/stats.
type stats struct {
	Node           string `json:"node"`
	Requests       int64  `json:"requests"`
	Failed         int64  `json:"failed"`
	FirstRequestNs int64  `json:"first_request_ns"`
}

func (n *node) handler() http.Handler {
	work := http.NewServeMux()
	work.HandleFunc("GET /work/{id}", n.work)
	work.HandleFunc("POST /write/{id}", n.write)
	counted := budget.Inbound(budget.ServerPolicy{Max: 30 * time.Second})(work)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /_chaos/stats", n.stats)
	mux.HandleFunc("POST /_chaos/set", n.change)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.requests.Add(1)
		n.first.CompareAndSwap(0, time.Now().UnixNano())
		counted.ServeHTTP(w, r)
	}))
	return mux
}

func (n *node) work(w http.ResponseWriter, r *http.Request) {
	if n.next != "" {
		n.forward(w, r)
		return
	}
	if err := n.serve(r.Context()); err != nil {
		n.fail(w, err)
		return
	}
	n.answer(w, r)
}

func (n *node) write(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n.record("recv", id)
	if err := n.serve(r.Context()); err != nil {
		n.fail(w, err)
		return
	}
	n.record("done", id)
	n.answer(w, r)
}

// serve does a request's work: waits for a slot, waits the service time and
// fails at the set rate. It gives up when the request's context ends, as a
// backend built on the budget package does.
func (n *node) serve(ctx context.Context) error {
	if n.slots != nil {
		select {
		case n.slots <- struct{}{}:
			defer func() { <-n.slots }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := n.set.Load()
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	n.paused.RLock()
	n.paused.RUnlock()
	if s.fail > 0 && rand.Float64() < s.fail {
		return rpc.Errorf(http.StatusServiceUnavailable, "failing on purpose")
	}
	return nil
}

// pauses holds every answer for pause once every every, until ctx ends:
// the requests in flight then all come back late together, as from a node
// whose garbage collector stopped the world or whose container used up its
// CPU quota for the period.
func (n *node) pauses(ctx context.Context, pause, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n.paused.Lock()
		time.Sleep(pause)
		n.paused.Unlock()
	}
}

// forward makes the request to the next service and passes its answer back,
// with its Sluice-Retry advice.
func (n *node) forward(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+n.next+"/work/"+r.PathValue("id"), nil)
	if err != nil {
		n.fail(w, err)
		return
	}
	resp, err := n.up.Do(req)
	if err != nil {
		n.fail(w, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		n.failed.Add(1)
	}
	for _, k := range []string{"Content-Type", upstream.RetryHeader} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (n *node) fail(w http.ResponseWriter, err error) {
	n.failed.Add(1)
	rpc.WriteError(w, err)
}

func (n *node) answer(w http.ResponseWriter, r *http.Request) {
	a := answer{Node: n.addr, ID: r.PathValue("id")}
	if info, ok := budget.FromContext(r.Context()); ok {
		a.Hop, a.Retries = info.Hop, info.Retries
	}
	w.Header().Set("Content-Type", "application/json")
	if s := n.set.Load(); s.cut > 0 && rand.Float64() < s.cut {
		n.cutShort(w, a)
	}
	_ = json.NewEncoder(w).Encode(a)
}

// cutShort answers 200 with half of a's body, then drops the connection:
// the answer of a node that crashes, or whose proxy resets, mid-body.
func (n *node) cutShort(w http.ResponseWriter, a answer) {
	n.failed.Add(1)
	b, _ := json.Marshal(a)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b[:len(b)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// record appends one line to the write log. Each line is one write to a
// file opened for appending, so it is in the kernel once record returns and
// survives a SIGKILL.
func (n *node) record(what, id string) {
	if n.log == nil {
		return
	}
	line := what + " " + id + " " + n.addr + "\n"
	n.logMu.Lock()
	defer n.logMu.Unlock()
	_, _ = n.log.WriteString(line)
}

func (n *node) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(stats{
		Node: n.addr, Requests: n.requests.Load(), Failed: n.failed.Load(), FirstRequestNs: n.first.Load(),
	})
}

// change sets the service time (delay, a Go duration), the failure rate
// (fail, from 0 to 1) and the share of answers cut short (cut, from 0 to
// 1); a parameter left out keeps its value.
func (n *node) change(w http.ResponseWriter, r *http.Request) {
	s := *n.set.Load()
	q := r.URL.Query()
	if v := q.Get("delay"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, "bad delay", http.StatusBadRequest)
			return
		}
		s.delay = d
	}
	if v := q.Get("fail"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			http.Error(w, "bad fail", http.StatusBadRequest)
			return
		}
		s.fail = f
	}
	if v := q.Get("cut"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			http.Error(w, "bad cut", http.StatusBadRequest)
			return
		}
		s.cut = f
	}
	n.set.Store(&s)
	w.WriteHeader(http.StatusNoContent)
}
