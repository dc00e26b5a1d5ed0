package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallingOutput is standard output on a pipe whose reader stops: writes
// go to a logBuffer until stall, then each waits until release.
type stallingOutput struct {
	*logBuffer
	stalled     atomic.Bool
	release     chan struct{}
	releaseOnce sync.Once
}

func (o *stallingOutput) Write(p []byte) (int, error) {
	if o.stalled.Load() {
		<-o.release
	}
	return o.logBuffer.Write(p)
}

func (o *stallingOutput) unstall() { o.releaseOnce.Do(func() { close(o.release) }) }

// While the gateway's standard output takes no write (a log driver or
// shipper that stopped reading its pipe), requests are still answered: their
// access-log lines wait in a queue of 1 MiB, those past it are dropped and
// counted in sluice_log_lines_dropped_total, and once the output moves a
// line says how many were lost. Without the queue, the first request after
// the stall waited for ever for its log line (a real pipe: 142 requests
// answered, then none).
func TestAStalledStandardOutputHoldsNoRequest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, configText(echoBackend(t), "  - {name: v1, path: /v1/*, service: svc}\n"))
	out := &stallingOutput{logBuffer: newLogBuffer(), release: make(chan struct{})}
	t.Cleanup(out.unstall) // a failed test's gateway stops
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", path}, out, io.Discard, make(chan os.Signal)) }()
	listening := out.waitFor(t, "listening", 2)
	route, admin := listening[0]["address"].(string), listening[1]["address"].(string)
	out.waitFor(t, "gateway ready", 1)
	out.stalled.Store(true)

	// Lines of some 4 KB each: 400 of them overflow the queue. The
	// client's timeout only ends a request that hangs.
	client := &http.Client{Timeout: waitLimit}
	long := strings.Repeat("a", 4000)
	const requests = 400
	for i := range requests {
		path := "/v1/" + long + strconv.Itoa(i)
		resp, err := client.Get("http://" + route + path)
		if err != nil {
			t.Fatalf("request %d, standard output stalled: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != path {
			t.Fatalf("request %d, standard output stalled: status %d, %d bytes of the answer, %v", i, resp.StatusCode, len(body), err)
		}
	}
	dropped := droppedLines(t, client, admin)
	if dropped == 0 || dropped >= requests {
		t.Errorf("sluice_log_lines_dropped_total %d after %d requests of 4 KB lines, want some but not all", dropped, requests)
	}

	out.unstall()
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var noticed float64
	notices, _ := out.find("log lines dropped: the log's output did not take them in time")
	for _, n := range notices {
		noticed += n["dropped"].(float64)
	}
	logged, _ := out.find("request")
	if noticed != float64(dropped) || len(logged)+int(dropped) != requests {
		t.Errorf("%d request lines logged, %v noticed dropped, %d counted; want %d in all", len(logged), noticed, dropped, requests)
	}
}

// droppedLines scrapes sluice_log_lines_dropped_total from the admin
// listener admin.
func droppedLines(t *testing.T, client *http.Client, admin string) int {
	t.Helper()
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "sluice_log_lines_dropped_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatal("/metrics has no sluice_log_lines_dropped_total")
	return 0
}

// A gateway whose standard output takes no write still stops on SIGTERM:
// its last lines wait at most logFlushTimeout. Without the queue, its
// "draining" line held the shutdown for ever.
func TestAStalledStandardOutputHoldsNoShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, configText(echoBackend(t), "  - {name: v1, path: /v1/*, service: svc}\n"))
	out := &stallingOutput{logBuffer: newLogBuffer(), release: make(chan struct{})}
	t.Cleanup(out.unstall)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", path}, out, io.Discard, make(chan os.Signal)) }()
	out.waitFor(t, "gateway ready", 1)
	out.stalled.Store(true)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit): // only a hung shutdown waits this long
		t.Fatalf("the gateway did not stop within %s of its context's end, standard output stalled", waitLimit)
	}
}
