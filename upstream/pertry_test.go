package upstream_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream"
)

// TestAHungNodeCostsNoCallWithTheDefaults stops one node of three the way
// SIGSTOP does (it accepts requests and never answers), under calls with a
// 1 s budget and every setting at its default: the per-try timeout derived
// from the service's latency moves each call that meets the hung node to
// another node in time, and no call fails.
func TestAHungNodeCostsNoCallWithTheDefaults(t *testing.T) {
	var stopped atomic.Bool
	release := make(chan struct{})
	hung := newBackend(t, "hung", func(w http.ResponseWriter, r *http.Request) {
		if stopped.Load() {
			<-release
		}
	})
	t.Cleanup(func() { close(release) }) // before the servers close
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	var onHung atomic.Int64
	c := newClient(t, staticOf(t, hung.node(), a.node(), b.node()),
		upstream.WithAttemptWrapper(func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if at, ok := upstream.AttemptFromContext(r.Context()); ok && at.Node.Same(hung.node()) && stopped.Load() {
					onHung.Add(1)
				}
				return next.RoundTrip(r)
			})
		}))
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := c.Do(get(t, ctx, "/"))
		if err != nil {
			return err
		}
		readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("answer %d", resp.StatusCode)
		}
		return nil
	}
	for range 60 { // the service's latency is learnt from its answers
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	stopped.Store(true)
	const workers, each = 6, 25
	const calls = workers * each
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if err := call(); err != nil {
					t.Logf("call failed: %v", err)
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	failed := failures.Load()
	t.Logf("one node of three hung: %d of %d calls failed, %d attempts met the hung node", failed, calls, onHung.Load())
	if failed != 0 {
		t.Fatalf("%d of %d calls failed with a hung node and the default settings", failed, calls)
	}
	if onHung.Load() == 0 {
		t.Fatal("no attempt met the hung node: the test proves nothing")
	}
}

// TestDerivedPerTryTimeoutSparesAPost checks that a POST is
// never cut short by a derived per-try timeout: no retry could follow it.
func TestDerivedPerTryTimeoutSparesAPost(t *testing.T) {
	slow := make(chan struct{})
	var first atomic.Bool
	node := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && first.CompareAndSwap(false, true) {
			<-slow
		}
	})
	c := newClient(t, staticOf(t, node.node()))
	for range 30 {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	go func() { time.Sleep(600 * time.Millisecond); close(slow) }() // longer than any derived timeout
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := c.Do(newRequest(t, http.MethodPost, "x").WithContext(ctx))
	if err != nil {
		t.Fatalf("a slow POST was cut short: %v", err)
	}
	readAll(t, resp)
}
