package upstream

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// TestShareKeepsRoomForOthers: a caller that holds most of a service's
// calls in flight gets no more once they fill three quarters of its
// nodes' limits, while another caller has called of late or has calls in
// flight; another caller's call is admitted, with the heavy caller's share
// of the calls in flight left out of its queue check. Alone, a caller
// fills the limits as before.
func TestShareKeepsRoomForOthers(t *testing.T) {
	l := NewLimits(LimitSettings{Min: 20, Max: 20}) // every node at 20: capacity 40
	nodes := []*registry.Node{testNode("a"), testNode("b")}
	heavy, other := netip.MustParseAddr("203.0.113.66"), netip.MustParseAddr("198.51.100.1")
	now := time.Unix(1000, 0)
	enter := func(c netip.Addr) (bool, float64) {
		now = now.Add(time.Millisecond)
		_, ok, aside, _ := l.enter("svc", c, nodes, now)
		return ok, aside
	}
	for i := range 40 { // alone: up to the whole capacity, and beyond it as far as the share goes
		if ok, aside := enter(heavy); !ok || aside != 0 {
			t.Fatalf("alone, call %d: admitted %v, aside %v", i+1, ok, aside)
		}
	}
	for range 40 {
		l.share("svc").leave(heavy)
	}

	if ok, _ := enter(other); !ok { // the other caller, once
		t.Fatal("the other caller's first call refused")
	}
	l.share("svc").leave(other)
	admitted := 0
	for range 40 {
		if ok, _ := enter(heavy); ok {
			admitted++
		}
	}
	if admitted != 30 { // three quarters of 40
		t.Errorf("with another caller of late, the heavy caller got %d calls in flight, want 30", admitted)
	}
	ok, aside := enter(other)
	if !ok || aside != 1 {
		t.Errorf("the other caller: admitted %v, aside %v; want admitted, with the heavy caller's 30 of 30 aside", ok, aside)
	}

	now = now.Add(2 * shareRecent) // the other caller has a call in flight still
	if ok, _ := enter(heavy); ok {
		t.Error("the heavy caller got more while the other has a call in flight")
	}
	l.share("svc").leave(other)
	now = now.Add(2 * shareRecent) // gone, and not seen of late: the heavy caller is alone
	if ok, aside := enter(heavy); !ok || aside != 0 {
		t.Errorf("alone again: admitted %v, aside %v", ok, aside)
	}
}

// TestShareCountsHeavyBesideTheMap: through any order of calls entering and
// leaving, from callers the first of whom is the zero address (a call of
// the client's own), each caller's count is its calls in flight, the heavy
// caller's kept beside the map alone and the others' in it, and the total
// is their sum.
func TestShareCountsHeavyBesideTheMap(t *testing.T) {
	l := NewLimits(LimitSettings{Min: 1000, Max: 1000})
	nodes := []*registry.Node{testNode("a")}
	callers := []netip.Addr{{}, netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"),
		netip.MustParseAddr("2001:db8::1")}
	in := make([]int, len(callers))
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1000, 0)
	for i := range 20000 {
		c := rng.IntN(len(callers))
		if in[c] > 0 && rng.IntN(2) == 0 {
			l.share("svc").leave(callers[c])
			in[c]--
		} else if _, ok, _, _ := l.enter("svc", callers[c], nodes, now); ok {
			in[c]++
		}
		now = now.Add(time.Duration(rng.IntN(int(time.Second))))
		sh := l.share("svc")
		sum := sh.heavyN
		for a, n := range sh.inflight {
			if a != sh.heavy {
				sum += n
			}
		}
		if sh.total != sum {
			t.Fatalf("step %d: total %d, the counts' sum %d", i, sh.total, sum)
		}
		for j, a := range callers {
			if got := sh.count(a); got != in[j] {
				t.Fatalf("step %d: caller %v has %d in flight, counted %d", i, a, in[j], got)
			}
		}
	}
}

// TestShareForgetsIdleCallers: a caller whose calls all ended keeps its
// (zero) count for a while, so that its next call adds nothing to the map,
// but 10,000 callers of one call each do not make the map hold 10,000.
func TestShareForgetsIdleCallers(t *testing.T) {
	l := NewLimits(LimitSettings{Min: 1000, Max: 1000})
	nodes := []*registry.Node{testNode("a")}
	now := time.Unix(1000, 0)
	held := netip.MustParseAddr("198.51.100.7") // one call in flight throughout
	l.enter("svc", held, nodes, now)
	most := 0
	for i := range 10000 {
		c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if _, ok, _, _ := l.enter("svc", c, nodes, now); !ok {
			t.Fatalf("caller %d refused", i)
		}
		l.share("svc").leave(c)
		most = max(most, len(l.share("svc").inflight))
	}
	if bound := 2*1 + shareSweep + 1; most > bound {
		t.Errorf("the share held %d callers, want at most %d", most, bound)
	}
	sh := l.share("svc")
	if sh.count(held) != 1 || sh.total != 1 {
		t.Errorf("the caller with a call in flight: %d, total %d; want 1, 1", sh.count(held), sh.total)
	}
	// A caller just gone keeps its entry: its next call inserts nothing.
	c := netip.MustParseAddr("203.0.113.5")
	l.enter("svc", c, nodes, now)
	l.share("svc").leave(c)
	if _, kept := sh.inflight[c]; !kept {
		t.Error("the count of a caller just gone was deleted at once")
	}
}

// TestShareCountsANodeAtMostAtItsConnections: a node's limit (1,000 by
// default) counts in a caller's share at most at the connections its
// transport keeps to it (256 by default), as the calls past them wait for
// a connection: with another caller of late, the heavy caller gets three
// quarters of 256, not of 1,000, and the node's connections left are the
// others'.
func TestShareCountsANodeAtMostAtItsConnections(t *testing.T) {
	nodes := []*registry.Node{testNode("a")}
	heavy, other := netip.MustParseAddr("203.0.113.66"), netip.MustParseAddr("198.51.100.1")
	for _, c := range []struct {
		conns, want int
	}{{0, 192}, {100, 75}, {-1, 750}} {
		l := NewLimits(LimitSettings{MaxConnsPerNode: c.conns})
		now := time.Unix(1000, 0)
		l.enter("svc", other, nodes, now)
		l.share("svc").leave(other)
		admitted := 0
		for range 1000 {
			if _, ok, _, _ := l.enter("svc", heavy, nodes, now); ok {
				admitted++
			}
		}
		if admitted != c.want {
			t.Errorf("MaxConnsPerNode %d: the heavy caller got %d calls in flight, want %d", c.conns, admitted, c.want)
		}
	}
}

// TestAnotherCallerIsJudgedByTheLimitWithoutTheHeavyCallersShare: a node
// whose limit fell to 20 under one caller's 192 calls held for their whole
// budget (what its queue looks like to the limit) refuses that caller's
// next call, and admits another caller's, judged without the heavy
// caller's share of those in flight, by its limit as by its queue check.
// Judged by the limit with them, every other caller's call was refused 503
// while the heavy caller held them (2 of 20 in a run of
// TestOneClientsHTTP2StreamsLeaveANodesConnectionsToOthers in e2e/hostile).
func TestAnotherCallerIsJudgedByTheLimitWithoutTheHeavyCallersShare(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{Now: func() time.Time { return now }, Lag: noLag})
	n := testNode("a")
	for range minRTTSamples {
		now = now.Add(10 * time.Millisecond)
		l.of(n).observe(time.Millisecond, time.Millisecond, now)
	}
	l.get(n).limit.Store(20)
	l.get(n).waiting.Store(193) // the heavy caller's 192, and another's 1
	if v := l.admit(n, 0, time.Second); v != full {
		t.Errorf("the heavy caller's call: verdict %d, want full", v)
	}
	if v := l.admit(n, 192.0/193, time.Second); v != admitted {
		t.Errorf("another caller's call, the heavy caller's 192 of 193 aside: verdict %d, want admitted", v)
	}
}
