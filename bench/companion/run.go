package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one variant's figures in one round.
type sample struct {
	callsPerSec float64
	cpuPerCall  time.Duration
	allocs      float64
	p50, p99    time.Duration
}

// child starts this binary as a backend in mode and returns its address
// and a function that stops it.
func child(mode string, pin bool) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	argv := []string{self}
	if pin && runtime.NumCPU() >= 2 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append([]string{ts, "-c", "1"}, argv...)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", serveEnv+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- line
	}()
	select {
	case a := <-addr:
		if len(a) < 2 {
			stop()
			return "", nil, fmt.Errorf("child %s exited before listening", mode)
		}
		return a[:len(a)-1], stop, nil
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, fmt.Errorf("child %s did not start within 30s", mode)
	}
}

// run starts the two children and measures every variant, interleaved,
// for cfg.rounds rounds.
func run(cfg config) (*report, error) {
	muxAddr, stopMux, err := child("mux", cfg.pin)
	if err != nil {
		return nil, err
	}
	defer stopMux()
	rpcAddr, stopRPC, err := child("rpc", cfg.pin)
	if err != nil {
		return nil, err
	}
	defer stopRPC()
	vs, err := variants(muxAddr, rpcAddr, 2*cfg.concurrency)
	if err != nil {
		return nil, err
	}
	rep := &report{variants: vs, samples: make(map[string][]sample)}
	for _, v := range vs { // warm up: connections, caches, the client's view of the node
		if _, err := closedLoop(v, cfg.concurrency, cfg.duration/4); err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	for r := 0; r < cfg.rounds; r++ {
		for _, v := range vs {
			s, err := closedLoop(v, cfg.concurrency, cfg.duration)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			s.p50, s.p99, err = fixedRate(v, cfg.rate, cfg.duration)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			rep.samples[v.name] = append(rep.samples[v.name], s)
		}
	}
	return rep, nil
}

// readStats returns the paying process's CPU time and allocation count.
func readStats(v variant) (stats, error) {
	if v.side == "client" {
		return selfStats(), nil
	}
	resp, err := http.Get("http://" + v.statsAddr + statsPath)
	if err != nil {
		return stats{}, err
	}
	defer resp.Body.Close()
	var s stats
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// closedLoop runs n callers back to back for d and returns calls per
// second, and the paying process's CPU time and allocations per call.
func closedLoop(v variant, n int, d time.Duration) (sample, error) {
	before, err := readStats(v)
	if err != nil {
		return sample{}, err
	}
	var calls atomic.Int64
	var firstErr error
	var once sync.Once
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				err := v.call(ctx)
				cancel()
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := readStats(v)
	if err == nil {
		err = firstErr
	}
	c := calls.Load()
	if err != nil || c == 0 {
		return sample{}, errors.Join(err, errors.New("no call completed"))
	}
	return sample{
		callsPerSec: float64(c) / elapsed.Seconds(),
		cpuPerCall:  (after.CPU - before.CPU) / time.Duration(c),
		allocs:      float64(after.Mallocs-before.Mallocs) / float64(c),
	}, nil
}

// fixedRate dispatches a call every 1/rate seconds for d, open loop (a
// call starts on time whether or not earlier ones have ended), and returns
// the p50 and p99 of the time from each call's due moment to its end.
func fixedRate(v variant, rate float64, d time.Duration) (p50, p99 time.Duration, err error) {
	n := int(rate * d.Seconds())
	if n < 1 {
		n = 1
	}
	lat := make([]time.Duration, n)
	errs := make(chan error, n)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			if err := v.call(ctx); err != nil {
				errs <- err
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	slices.Sort(lat)
	return lat[n/2], lat[min(n-1, n*99/100)], nil
}
