// Command rate is the load test's constant-rate load generator: it sends GET
// requests to one URL at a fixed rate for a fixed time, open loop (a request
// is sent when its time comes, whether or not earlier ones have been
// answered), over a few keep-alive connections, and prints the latency
// percentiles on one line.
//
//	rate -url http://127.0.0.1:8080/hello/bench -rate 2000 -duration 5s -connections 8
//	rate -url ... -header "Authorization: Bearer TOKEN"   # any number of -header
//
// Output (one line on standard output):
//
//	sent=10000 ok=10000 errors=0 non2xx=0 dropped=0 rps=2000.0 p50_ms=0.210 p90_ms=0.290 p99_ms=0.520 p999_ms=1.100 max_ms=2.300 svc_p50_ms=0.205 svc_p99_ms=0.480 late_p99_ms=0.060
//
// Latency (p50_ms … max_ms) runs from the moment a request is dispatched,
// when its time comes, to the end of its answer: time spent waiting for a
// free connection while earlier requests are slow counts, so that a
// stalling server cannot hide its stalls by slowing the generator down
// (coordinated omission). svc_* runs from the moment it was written to the
// end of the answer. late_p99_ms is how late the generator itself
// dispatched requests after their due time, which is not counted in the
// latency: when it is large, the machine is too busy for the rate and the
// results are suspect.
//
// A request is due every 1/rate seconds. The dispatcher sleeps between them
// with nanosleep on a thread of its own (Go's timers resolve to a
// millisecond when the process is otherwise idle), so the generator always
// runs with at least two Ps.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

type config struct {
	url         *url.URL
	rate        float64
	duration    time.Duration
	connections int
	timeout     time.Duration
	headers     []string // "Name: value" fields added to every request
}

// headerFlags collects repeated -header flags.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("want \"Name: value\", got %q", v)
	}
	*h = append(*h, strings.TrimSpace(name)+": "+strings.TrimSpace(value))
	return nil
}

func main() {
	rawURL := flag.String("url", "", "http:// URL to GET (required)")
	rate := flag.Float64("rate", 2000, "requests per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	connections := flag.Int("connections", 8, "keep-alive connections; requests wait for a free one")
	timeout := flag.Duration("timeout", 2*time.Second, "time limit of one request")
	var headers headerFlags
	flag.Var(&headers, "header", "`Name: value` field to send with every request (repeatable)")
	flag.Parse()
	u, err := url.Parse(*rawURL)
	switch {
	case err != nil || u.Scheme != "http" || u.Host == "":
		err = fmt.Errorf("-url must be an http:// URL with a host, got %q", *rawURL)
	case !(*rate > 0 && *rate <= 1e6):
		err = errors.New("-rate must be above 0 and at most 1000000")
	case *duration <= 0 || *timeout <= 0:
		err = errors.New("-duration and -timeout must be positive")
	case *connections < 1 || *connections > 10000:
		err = errors.New("-connections must be 1 to 10000")
	}
	if err == nil {
		var r *result
		r, err = run(config{url: u, rate: *rate, duration: *duration, connections: *connections, timeout: *timeout,
			headers: headers})
		if err == nil {
			fmt.Println(r)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rate:", err)
		os.Exit(1)
	}
}

// conn is one keep-alive connection and what was measured on it.
type conn struct {
	cfg     config
	req     []byte
	c       net.Conn
	br      *bufio.Reader
	lat     []time.Duration // from dispatched to answered
	svc     []time.Duration // from written to answered
	errors  int
	non2xx  int
	dropped int
	lastErr error
}

func (k *conn) dial() error {
	c, err := net.DialTimeout("tcp", k.cfg.url.Host, k.cfg.timeout)
	if err != nil {
		return err
	}
	k.c, k.br = c, bufio.NewReaderSize(c, 16<<10)
	return nil
}

func (k *conn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// do sends one request and reads its whole answer.
func (k *conn) do() (status int, err error) {
	if k.c == nil {
		if err := k.dial(); err != nil {
			return 0, err
		}
	}
	if err := k.c.SetDeadline(time.Now().Add(k.cfg.timeout)); err != nil {
		return 0, err
	}
	if _, err := k.c.Write(k.req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.Close {
		k.close()
	}
	return resp.StatusCode, nil
}

// serve sends a request for each dispatch time received, until jobs closes.
// Times are offsets from start; after stop, requests are dropped.
func (k *conn) serve(jobs <-chan time.Duration, start time.Time, stop time.Duration) {
	for dispatched := range jobs {
		if time.Since(start) > stop {
			k.dropped++
			continue
		}
		sent := time.Since(start)
		status, err := k.do()
		done := time.Since(start)
		if err != nil {
			k.errors++
			k.lastErr = err
			k.close()
			continue
		}
		if status/100 != 2 {
			k.non2xx++
		}
		k.lat = append(k.lat, done-dispatched)
		k.svc = append(k.svc, done-sent)
	}
}

type result struct {
	sent, ok, errors, non2xx, dropped int
	elapsed                           time.Duration
	lat, svc, late                    []time.Duration // sorted
}

func run(cfg config) (*result, error) {
	if runtime.GOMAXPROCS(0) < 2 {
		// The dispatcher holds its P while it sleeps in nanosleep; a second P
		// runs the connections meanwhile.
		runtime.GOMAXPROCS(2)
	}
	path := cfg.url.RequestURI()
	head := "GET " + path + " HTTP/1.1\r\nHost: " + cfg.url.Host + "\r\nUser-Agent: sluice-bench-rate\r\n"
	for _, h := range cfg.headers {
		head += h + "\r\n"
	}
	req := []byte(head + "\r\n")
	total := int(math.Round(cfg.rate * cfg.duration.Seconds()))
	if total < 1 {
		return nil, errors.New("-rate × -duration is less than one request")
	}
	conns := make([]*conn, cfg.connections)
	for i := range conns {
		k := &conn{cfg: cfg, req: req, lat: make([]time.Duration, 0, total/cfg.connections+16)}
		// Connect, and send one untimed request, before the clock starts.
		if _, err := k.do(); err != nil {
			for _, k := range conns[:i] {
				k.close()
			}
			return nil, fmt.Errorf("first request on connection %d: %w", i+1, err)
		}
		conns[i] = k
	}
	defer func() {
		for _, k := range conns {
			k.close()
		}
	}()

	jobs := make(chan time.Duration, min(total, 1<<20))
	start := time.Now()
	stop := cfg.duration + cfg.timeout
	var wg sync.WaitGroup
	for _, k := range conns {
		wg.Go(func() { k.serve(jobs, start, stop) })
	}
	late := dispatch(jobs, total, cfg.rate, start)
	wg.Wait()
	elapsed := time.Since(start)

	r := &result{sent: total, elapsed: elapsed, late: late}
	for _, k := range conns {
		r.errors += k.errors
		r.non2xx += k.non2xx
		r.dropped += k.dropped
		r.lat = append(r.lat, k.lat...)
		r.svc = append(r.svc, k.svc...)
		if k.lastErr != nil {
			fmt.Fprintln(os.Stderr, "rate: last error:", k.lastErr)
		}
	}
	r.ok = len(r.lat) - r.non2xx
	slices.Sort(r.lat)
	slices.Sort(r.svc)
	slices.Sort(r.late)
	if len(r.lat) == 0 {
		return nil, fmt.Errorf("no request was answered (%d errors, %d dropped)", r.errors, r.dropped)
	}
	return r, nil
}

// dispatch sends on jobs, for each request when it is due, the moment it
// was dispatched (its due time, or later when the generator itself was late),
// and returns how late each one was, in request order.
func dispatch(jobs chan<- time.Duration, total int, rate float64, start time.Time) []time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	preciseTimers()
	late := make([]time.Duration, total)
	for i := range total {
		due := time.Duration(float64(i) * 1e9 / rate)
		now := time.Since(start)
		if due > now {
			sleep(due - now)
			now = time.Since(start)
		}
		late[i] = max(now-due, 0)
		jobs <- now
	}
	close(jobs)
	return late
}

// pct returns the p-quantile (0 < p ≤ 1) of sorted d, nearest rank.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func (r *result) String() string {
	return fmt.Sprintf("sent=%d ok=%d errors=%d non2xx=%d dropped=%d rps=%.1f"+
		" p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s svc_p50_ms=%s svc_p99_ms=%s late_p99_ms=%s",
		r.sent, r.ok, r.errors, r.non2xx, r.dropped, float64(len(r.lat))/r.elapsed.Seconds(),
		ms(pct(r.lat, 0.5)), ms(pct(r.lat, 0.9)), ms(pct(r.lat, 0.99)), ms(pct(r.lat, 0.999)), ms(pct(r.lat, 1)),
		ms(pct(r.svc, 0.5)), ms(pct(r.svc, 0.99)), ms(pct(r.late, 0.99)))
}
