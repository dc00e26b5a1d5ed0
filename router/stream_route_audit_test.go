package router

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// pausingTimer stands in for an idle watch's timer: its first Stop, a
// touch's, stops the real timer and then waits for release, holding the
// touch between its Stop and its Reset.
type pausingTimer struct {
	idleTimer
	paused  atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (p *pausingTimer) Stop() bool {
	active := p.idleTimer.Stop()
	if p.paused.CompareAndSwap(false, true) {
		close(p.entered)
		<-p.release
	}
	return active
}

// TestAuditIdleWatchStaysStoppedPastARacingTouch checks that a body read
// whose touch is under way as the stream ends leaves no idle timer armed
// after it: stop stopped the timer without the watch's mutex, between the
// touch's Stop and Reset, and the Reset armed it again, to fire an idle
// timeout into a stream already over.
func TestAuditIdleWatchStaysStoppedPastARacingTouch(t *testing.T) {
	h := &routeHandler{route: Route{Stream: &StreamPolicy{IdleTimeout: time.Hour}}}
	ctx, w, stop := h.streamContext(context.Background(), time.Now(), netip.Addr{})
	timer := &pausingTimer{idleTimer: w.timer, entered: make(chan struct{}), release: make(chan struct{})}
	w.timer = timer
	touched := make(chan struct{})
	go func() {
		w.touch()
		close(touched)
	}()
	<-timer.entered // the touch holds the watch, its timer stopped, not yet reset
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-ctx.Done(): // stop has begun
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not end the stream's context")
	}
	close(timer.release)
	<-touched
	<-stopped
	if timer.idleTimer.Stop() {
		t.Fatal("the idle timer is armed after the stream ended: the touch reset it past stop")
	}
	w.touch()
	if timer.idleTimer.Stop() {
		t.Fatal("a touch after the stream ended armed the idle timer")
	}
}
