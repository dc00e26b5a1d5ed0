package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// answerEach answers every request of a kept-alive conn with a short body,
// after a receive from hold for each when hold is not nil.
func answerEach(hold <-chan struct{}) func(nc net.Conn, br *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		for {
			if _, ok := readRequest(br); !ok {
				return
			}
			if hold != nil {
				<-hold
			}
			if _, err := io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	}
}

// setsNow returns how many times c's deadline timer was set.
func (c *cutTimer) setsNow() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sets
}

// TestCutTimerSetOnceForLaterDeadlines: a kept-alive conn whose round
// trips' deadlines move later, as each request's budget does, sets its
// deadline timer once, not once a round trip.
func TestCutTimerSetOnceForLaterDeadlines(t *testing.T) {
	url, accepts := rawServer(t, answerEach(nil))
	tr, _ := newTransport(t)
	for i := range 20 {
		body, err := readResp(tr.RoundTripBy(getReq(t, url), time.Now().Add(time.Minute)))
		if err != nil || body != "ok" {
			t.Fatalf("round trip %d: %q, %v", i, body, err)
		}
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d conns, want 1", n)
	}
	if n := idleConn(t, tr, url).cut.setsNow(); n != 1 {
		t.Errorf("the deadline timer was set %d times over 20 round trips, want 1", n)
	}
}

// TestCutTimerEarlyFireSparesALaterRoundTrip: the timer set for a round
// trip that ended long before its deadline fires during the next round
// trip on the conn, whose deadline is later: it is set again, and that
// round trip ends well, on a conn that stays open.
func TestCutTimerEarlyFireSparesALaterRoundTrip(t *testing.T) {
	hold := make(chan struct{}, 2)
	hold <- struct{}{} // the first answer comes at once
	url, accepts := rawServer(t, answerEach(hold))
	t.Cleanup(func() { close(hold) }) // before rawServer's, which waits for its handler
	tr, _ := newTransport(t)
	// 200ms: the next round trip almost surely starts before it fires. If
	// it does not, that round trip sets the timer itself, and the test
	// checks the plain path instead.
	if body, err := readResp(tr.RoundTripBy(getReq(t, url), time.Now().Add(200*time.Millisecond))); err != nil || body != "ok" {
		t.Fatalf("first round trip: %q, %v", body, err)
	}
	c := idleConn(t, tr, url)
	done := make(chan error, 1)
	go func() {
		body, err := readResp(tr.RoundTripBy(getReq(t, url), time.Now().Add(time.Minute)))
		if err == nil && body != "ok" {
			err = errors.New("body " + body)
		}
		done <- err
	}()
	// The answer waits until the first round trip's timer has fired
	// during this one and been set for this one's deadline.
	waitFor(t, "the timer set again", func() bool { return c.cut.setsNow() == 2 })
	hold <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("second round trip: %v", err)
	}
	if c2 := idleConn(t, tr, url); c2 != c || accepts.Load() != 1 {
		t.Errorf("the conn was not kept: %d conns", accepts.Load())
	}
}

// TestCutTimerMovesEarlier: after a round trip with a far deadline, the
// next one's nearer deadline still cuts it.
func TestCutTimerMovesEarlier(t *testing.T) {
	hold := make(chan struct{}, 1)
	hold <- struct{}{}
	url, _ := rawServer(t, answerEach(hold)) // the second answer comes at the end
	t.Cleanup(func() { close(hold) })        // before rawServer's, which waits for its handler
	tr, _ := newTransport(t)
	if _, err := readResp(tr.RoundTripBy(getReq(t, url), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readResp(tr.RoundTripBy(getReq(t, url), time.Now().Add(100*time.Millisecond)))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second round trip: %v, want one past its deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second round trip was not cut at its deadline, 100ms")
	}
}

// TestCutTimerStoppedWithTheConn: a conn closed for good stops its
// deadline's timer, which would keep the conn (and its buffers) until the
// last deadline it was set for.
func TestCutTimerStoppedWithTheConn(t *testing.T) {
	url, _ := rawServer(t, answerEach(nil))
	tr, _ := newTransport(t)
	if _, err := readResp(tr.RoundTripBy(getReq(t, url), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	c := idleConn(t, tr, url)
	tr.CloseIdleConnections()
	c.cut.mu.Lock()
	pending := c.cut.t.Stop()
	c.cut.mu.Unlock()
	if pending {
		t.Error("the timer of a closed conn was still set")
	}
}
