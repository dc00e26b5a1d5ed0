package consul

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// manualTimer replaces time.After in the heartbeat loop: each call is reported
// on waits, and the loop proceeds only when the test sends on fire.
type manualTimer struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newManualTimer() *manualTimer {
	return &manualTimer{waits: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (m *manualTimer) after(d time.Duration) <-chan time.Time {
	m.waits <- d
	return m.fire
}

func withAfter(f func(time.Duration) <-chan time.Time) AnnounceOption {
	return func(a *Announcement) { a.after = f }
}

// tick lets the waiting loop run one heartbeat and waits until it waits again.
func (m *manualTimer) tick(t *testing.T) {
	t.Helper()
	select {
	case m.fire <- time.Now():
	case <-time.After(10 * time.Second):
		t.Fatal("heartbeat loop is not waiting")
	}
	select {
	case <-m.waits:
	case <-time.After(10 * time.Second):
		t.Fatal("heartbeat did not finish")
	}
}

func TestAnnounceHeartbeatsAndReregisters(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	clock := newManualTimer()
	var mu sync.Mutex
	var errs []error
	onErr := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	rg := reg("a", "10.0.0.5:80")
	rg.TTL = 3 * time.Second

	a, err := r.Announce(context.Background(), rg, withAfter(clock.after), WithErrorHandler(onErr))
	if err != nil {
		t.Fatal(err)
	}
	if d := <-clock.waits; d <= 750*time.Millisecond || d > time.Second {
		t.Fatalf("first wait %s, want in (750ms, 1s] for TTL 3s", d)
	}
	if _, status := f.registration("a"); status != "passing" {
		t.Fatalf("status after Announce = %q, want passing", status)
	}

	clock.tick(t)
	f.forget() // the agent restarted and lost the service
	clock.tick(t)
	if s, status := f.registration("a"); s == nil || status != "passing" {
		t.Fatalf("after agent restart: registration %v, status %q; want re-registered passing", s, status)
	}

	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"register a", "ttl service:a", // Announce
		"ttl service:a",               // heartbeat
		"ttl service:a", "register a", // heartbeat refused, re-register
		"deregister a", // Stop
	}
	if got := f.callLog(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n got %q\nwant %q", got, want)
	}
	if len(errs) != 0 {
		t.Fatalf("errors reported though re-registration worked: %v", errs)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop = %v", err)
	}
	if n := len(f.callLog()); n != len(want) {
		t.Fatalf("second Stop called Consul again: %q", f.callLog())
	}
}

func TestAnnounceReportsPersistentErrors(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	clock := newManualTimer()
	errc := make(chan error, 4)
	a, err := r.Announce(context.Background(), reg("a", "10.0.0.5:80"), withAfter(clock.after),
		WithErrorHandler(func(err error) { errc <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	<-clock.waits
	f.forget()
	f.mu.Lock()
	f.regErr = errors.New("agent unreachable")
	f.mu.Unlock()
	clock.tick(t)
	select {
	case err := <-errc:
		if !strings.Contains(err.Error(), "agent unreachable") {
			t.Fatalf("reported %v", err)
		}
	default:
		t.Fatal("no error reported")
	}
}

func TestAnnounceFailsWithoutGoroutine(t *testing.T) {
	f := newFakeConsul()
	f.regErr = errors.New("boom")
	r := NewFrom(f, f)
	clock := newManualTimer()
	if _, err := r.Announce(context.Background(), reg("a", "10.0.0.5:80"), withAfter(clock.after)); err == nil {
		t.Fatal("Announce hid the registration error")
	}
	select {
	case <-clock.waits:
		t.Fatal("heartbeat loop started after a failed registration")
	default:
	}
}

func TestHeartbeatJitter(t *testing.T) {
	a := &Announcement{interval: time.Second}
	for _, j := range []int64{0, 1, 249_999_999} {
		a.jitter = func(n int64) int64 {
			if n != int64(250*time.Millisecond) {
				t.Fatalf("jitter range %d, want 250ms", n)
			}
			return j
		}
		if d := a.next(); d <= 750*time.Millisecond || d > time.Second {
			t.Fatalf("next() = %s with jitter %d", d, j)
		}
	}
}

func TestShutdownOrder(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	clock := newManualTimer()
	a, err := r.Announce(context.Background(), reg("a", "10.0.0.5:80"), withAfter(clock.after), WithPropagationDelay(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	<-clock.waits

	var order []string
	srv := serverFunc(func(context.Context) error {
		calls := f.callLog()
		order = append(order, calls[len(calls)-1], "server shutdown")
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(context.Background(), srv) }()
	// The propagation wait goes through the same timer; the server must not
	// stop before it ends.
	if d := <-clock.waits; d != 2*time.Second {
		t.Fatalf("propagation wait %s, want 2s", d)
	}
	if calls := f.callLog(); calls[len(calls)-1] != "deregister a" {
		t.Fatalf("not deregistered before the wait: %q", calls)
	}
	if len(order) != 0 {
		t.Fatal("server stopped before the propagation delay")
	}
	clock.fire <- time.Now()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := []string{"deregister a", "server shutdown"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order %q, want %q", order, want)
	}
}

// TestAnnounceMarksEachStart checks that every Announce of the same node
// carries a start mark of its own, so that callers tell a restarted node
// from the one that crashed although its service ID is the same, and that a
// mark the caller set is kept.
func TestAnnounceMarksEachStart(t *testing.T) {
	f := newFakeConsul()
	r := NewFrom(f, f)
	ctx := context.Background()
	mark := func() string {
		t.Helper()
		a, err := r.Announce(ctx, reg("a", "10.0.0.5:80"), withAfter(newManualTimer().after))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Stop(ctx)
		sr, _ := f.registration("a")
		return sr.Meta[registry.MetaInstance]
	}
	first, second := mark(), mark()
	if first == "" || first == second {
		t.Fatalf("start marks %q and %q, want two different ones", first, second)
	}
	rg := reg("b", "10.0.0.6:80")
	rg.Node.Metadata = map[string]string{registry.MetaInstance: "mine"}
	a, err := r.Announce(ctx, rg, withAfter(newManualTimer().after))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	if sr, _ := f.registration("b"); sr.Meta[registry.MetaInstance] != "mine" {
		t.Fatalf("the caller's mark became %q", sr.Meta[registry.MetaInstance])
	}
}
