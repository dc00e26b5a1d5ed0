package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
)

// leanWays are the lean contexts a round trip may run under: the server's
// request context itself, and the budget's kind, a type of its own that
// adds values to one.
var leanWays = []struct {
	name string
	wrap func(*leanctx.Ctx) context.Context
}{
	{"lean", func(c *leanctx.Ctx) context.Context { return c }},
	{"lean with values", func(c *leanctx.Ctx) context.Context { return context.WithValue(c, "k", "v") }},
}

// A lean context's Cancel closes the conn through its registration, while
// the round trip waits for the answer and while the body is read.
func TestLeanCancel(t *testing.T) {
	for _, way := range leanWays {
		t.Run(way.name+"/header", func(t *testing.T) {
			got := make(chan struct{}, 1)
			url, accepts := rawServer(t, stalling("", got))
			tr, _ := newTransport(t)
			lc := leanctx.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(way.wrap(lc), "GET", url, nil)
			done := roundTripAsync(tr, req)
			<-got
			lc.Cancel()
			err := wait(t, done)
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNothingWritten) {
				t.Fatalf("err %v, want context.Canceled, not ErrNothingWritten", err)
			}
			if code, _ := get(t, tr, url); code != 200 {
				t.Fatal(code)
			}
			if n := accepts.Load(); n != 2 {
				t.Fatalf("%d conns, want 2: the cancelled conn must not be reused", n)
			}
		})
		t.Run(way.name+"/body", func(t *testing.T) {
			got := make(chan struct{}, 1)
			url, _ := rawServer(t, stalling("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", got))
			tr, _ := newTransport(t)
			lc := leanctx.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(way.wrap(lc), "GET", url, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			<-got
			buf := make([]byte, 3)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			lc.Cancel()
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
		})
	}
}

// A round trip under a lean context that ended in time leaves nothing
// registered with it: cancelling it later does not close the conn, which
// the next round trip reuses.
func TestLeanRegistrationEndsWithTheRoundTrip(t *testing.T) {
	for _, way := range leanWays {
		t.Run(way.name, func(t *testing.T) {
			url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			tr, _ := newTransport(t)
			for range 3 {
				lc := leanctx.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(way.wrap(lc), "GET", url, nil)
				if body, err := readResp(tr.RoundTrip(req)); err != nil || body != "ok" {
					t.Fatalf("%q, %v", body, err)
				}
				lc.Cancel()
			}
			if n := accepts.Load(); n != 1 {
				t.Fatalf("%d conns, want 1: a later Cancel closed a conn back in the pool", n)
			}
		})
	}
}

// A round trip on a pooled conn under a lean context with a deadline, the
// gateway's common case, neither asks for its Done channel nor makes it arm
// a timer: the conn's timer keeps the deadline. (A dial does ask: the
// dialer waits on Done.)
func TestLeanRoundTripArmsNoContextTimer(t *testing.T) {
	url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, _ := newTransport(t)
	if code, _ := get(t, tr, url); code != 200 { // the conn to reuse
		t.Fatal(code)
	}
	for _, way := range leanWays {
		for range 2 {
			lc := leanctx.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			req, _ := http.NewRequestWithContext(way.wrap(lc), "GET", url, nil)
			if body, err := readResp(tr.RoundTrip(req)); err != nil || body != "ok" {
				t.Fatalf("%s: %q, %v", way.name, body, err)
			}
			if lc.Waited() {
				t.Fatalf("%s: the round trip asked the lean context for Done or AfterFunc", way.name)
			}
			lc.Cancel()
		}
	}
}

// endedAt judges both deadlines, the lean context's and the round trip's
// own, at the time given, so that the round trip's start reads the clock
// once for both (and for the pool's eviction).
func TestEndedAtJudgesAtNow(t *testing.T) {
	d := time.Now().Add(time.Hour)
	for _, w := range leanWays {
		if err := endedAt(w.wrap(leanctx.WithDeadline(context.Background(), d)), time.Time{}, d.Add(-time.Second)); err != nil {
			t.Errorf("%s: before its deadline: %v", w.name, err)
		}
		if err := endedAt(w.wrap(leanctx.WithDeadline(context.Background(), d)), time.Time{}, d); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: at its deadline: %v", w.name, err)
		}
	}
	if err := endedAt(context.Background(), d, d.Add(-time.Second)); err != nil {
		t.Errorf("before try: %v", err)
	}
	if err := endedAt(context.Background(), d, d); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("at try: %v", err)
	}
}
