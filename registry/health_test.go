package registry_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// probes drives a Health's checker: each probe of a node waits for the
// verdict the test sends for that node's address, and each verdict
// recorded is reported on checked, so that tests wait for events, never
// for time.
type probes struct {
	mu       sync.Mutex
	verdicts map[string]chan error
	checked  chan string // the address of each probe recorded
	stopped  chan string // the address of each probe its context ended
	open     chan bool   // OnFailOpen's reports
	changes  chan string // OnChange's reports: address and health
}

func newProbes() *probes {
	return &probes{verdicts: make(map[string]chan error), checked: make(chan string, 100),
		stopped: make(chan string, 100), open: make(chan bool, 10), changes: make(chan string, 100)}
}

func (p *probes) verdict(addr string) chan error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.verdicts[addr]
	if c == nil {
		c = make(chan error)
		p.verdicts[addr] = c
	}
	return c
}

// health returns a running Health over st that checks service "s", with
// instant waits between probes and timeouts too long to matter.
func (p *probes) health(t *testing.T, st *registry.Static) *registry.Health {
	t.Helper()
	now := make(chan time.Time)
	close(now)
	h := registry.NewHealth(st, registry.HealthOptions{
		Checks: map[string]registry.HealthCheck{"s": {Path: "/healthz", Timeout: time.Hour}},
		Probe: func(ctx context.Context, n *registry.Node, path string) error {
			if path != "/healthz" {
				t.Errorf("probe of %s asked for %q", n.Address, path)
			}
			select {
			case err := <-p.verdict(n.Address):
				return err
			case <-ctx.Done():
				p.stopped <- n.Address
				return ctx.Err()
			}
		},
		OnCheck: func(_ string, err error) {
			if !errors.Is(err, context.Canceled) {
				p.checked <- "checked"
			}
		},
		OnChange: func(n *registry.Node, healthy bool, _ error, _, _ int) {
			if healthy {
				p.changes <- n.Address + " healthy"
			} else {
				p.changes <- n.Address + " unhealthy"
			}
		},
		OnFailOpen: func(_ string, open bool) { p.open <- open },
		After:      func(time.Duration) <-chan time.Time { return now },
		Jitter:     func(time.Duration) time.Duration { return 0 },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done // Run returns once every probe has stopped
	})
	return h
}

// check has the probe of addr answer err and waits until it is recorded.
func (p *probes) check(t *testing.T, addr string, err error) {
	t.Helper()
	select {
	case p.verdict(addr) <- err:
	case <-time.After(waitTimeout):
		t.Fatalf("no probe of %s", addr)
	}
	select {
	case <-p.checked:
	case <-time.After(waitTimeout):
		t.Fatalf("probe of %s not recorded", addr)
	}
}

// failOut fails the probes of addr as many times in a row as take a
// healthy node out by default.
func (p *probes) failOut(t *testing.T, addr string) {
	t.Helper()
	for range registry.DefaultHealthUnhealthyThreshold {
		p.check(t, addr, errBroken)
	}
}

func addresses(t *testing.T, r registry.Registry) []string {
	t.Helper()
	nodes, err := r.Lookup(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.Address)
	}
	slices.Sort(out)
	return out
}

func wantAddresses(t *testing.T, r registry.Registry, want ...string) {
	t.Helper()
	if got := addresses(t, r); !slices.Equal(got, want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
}

var errBroken = errors.New("503 Service Unavailable")

func TestANodeFailingTwiceInARowLeavesUntilItPassesAgain(t *testing.T) {
	st := mustStatic(t, node("s", "", "10.0.0.1:80"), node("s", "", "10.0.0.2:80"), node("s", "", "10.0.0.3:80"))
	p := newProbes()
	h := p.health(t, st)
	wantAddresses(t, h, "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80") // healthy from the start
	snap, err := h.Watch(context.Background(), "s", 0)
	if err != nil {
		t.Fatal(err)
	}

	p.check(t, "10.0.0.2:80", errBroken)
	p.check(t, "10.0.0.2:80", nil) // a pass resets the count
	p.check(t, "10.0.0.2:80", errBroken)
	wantAddresses(t, h, "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")
	p.check(t, "10.0.0.2:80", errBroken)
	wantAddresses(t, h, "10.0.0.1:80", "10.0.0.3:80")
	if got := <-p.changes; got != "10.0.0.2:80 unhealthy" {
		t.Fatalf("change %q", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	next, err := h.Watch(ctx, "s", snap.Index) // wakes on the change of health
	if err != nil || next.Index == snap.Index || len(next.Nodes) != 2 {
		t.Fatalf("watch: %v, index %d after %d, %d nodes", err, next.Index, snap.Index, len(next.Nodes))
	}
	p.check(t, "10.0.0.2:80", nil)
	wantAddresses(t, h, "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")
	if got := <-p.changes; got != "10.0.0.2:80 healthy" {
		t.Fatalf("change %q", got)
	}
	if st := h.Status(); len(st) != 1 || st[0].Healthy != 3 || st[0].Nodes != 3 {
		t.Fatalf("status %+v", st)
	}
}

// oneOfTwoOut returns a running Health over service s of nodes 10.0.0.1
// and 10.0.0.2, the first taken out by its checks.
func oneOfTwoOut(t *testing.T) (*registry.Static, *probes, *registry.Health) {
	t.Helper()
	st := mustStatic(t, node("s", "", "10.0.0.1:80"), node("s", "", "10.0.0.2:80"))
	p := newProbes()
	h := p.health(t, st)
	p.failOut(t, "10.0.0.1:80")
	wantAddresses(t, h, "10.0.0.2:80")
	return st, p, h
}

func TestEveryNodeUnhealthyServesThemAllAndSaysSo(t *testing.T) {
	_, p, h := oneOfTwoOut(t)
	p.failOut(t, "10.0.0.2:80")
	if open := <-p.open; !open {
		t.Fatal("fail open not reported")
	}
	wantAddresses(t, h, "10.0.0.1:80", "10.0.0.2:80")
	p.check(t, "10.0.0.1:80", nil)
	if open := <-p.open; open {
		t.Fatal("end of fail open not reported")
	}
	wantAddresses(t, h, "10.0.0.1:80")
}

func TestNodesAddedLaterStartHealthyAndRemovedOnesStopBeingProbed(t *testing.T) {
	st, p, h := oneOfTwoOut(t)

	// A reload or DNS refresh: 10.0.0.2 leaves, 10.0.0.3 comes.
	st.Set("s", []*registry.Node{node("s", "", "10.0.0.1:80"), node("s", "", "10.0.0.3:80")})
	wantAddresses(t, h, "10.0.0.3:80") // the unhealthy one stays out, the new one serves
	p.check(t, "10.0.0.3:80", nil)     // the new node is probed
	p.check(t, "10.0.0.1:80", nil)
	wantAddresses(t, h, "10.0.0.1:80", "10.0.0.3:80")

	// The removed node's probe, waiting for its verdict, was stopped.
	select {
	case addr := <-p.stopped:
		if addr != "10.0.0.2:80" {
			t.Fatalf("the probe of %s stopped", addr)
		}
	case <-time.After(waitTimeout):
		t.Fatal("a removed node's probe goes on")
	}
}

func TestServicesWithoutACheckAreNotFiltered(t *testing.T) {
	st := mustStatic(t, node("s", "", "10.0.0.1:80"), node("t", "", "10.0.0.9:80"))
	h := newProbes().health(t, st)
	nodes, err := h.Lookup(context.Background(), "t")
	if err != nil || len(nodes) != 1 {
		t.Fatalf("t: %v %v", nodes, err)
	}
	if _, err := h.Lookup(context.Background(), "u"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown service: %v", err)
	}
}
