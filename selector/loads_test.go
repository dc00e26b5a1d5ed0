package selector

import (
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/registry"
)

func loadNodes(prefix string, n int) []*registry.Node {
	out := make([]*registry.Node, n)
	for i := range out {
		out[i] = &registry.Node{Service: "svc", ID: fmt.Sprintf("%s%d", prefix, i), Address: fmt.Sprintf("10.2.%d.%d:80", i/250, i%250+1)}
	}
	return out
}

func (l *Loads) size() int {
	n := 0
	l.nodes.Range(func(string, nodeKey, *load) bool { n++; return true })
	return n
}

// TestLoadsForgetIdleNodes starts requests on node after node, as a service
// whose instances are replaced on every deploy would: the table does not
// grow with every node that ever existed, and a node with a request in
// flight is kept. (A sweep keeps the nodes used since the previous one, so
// the table holds a few times the nodes of recent snapshots.)
func TestLoadsForgetIdleNodes(t *testing.T) {
	var l Loads // the zero value is ready to use
	held := &registry.Node{Service: "svc", ID: "held", Address: "10.3.0.1:80"}
	done := l.Start(held)
	churn := loadNodes("c", 20*minSweep)
	for i := 0; i < len(churn); i += 100 { // a snapshot of 100 new nodes
		l.counters(churn[i:min(i+100, len(churn))])
		for _, n := range churn[i:min(i+100, len(churn))] {
			l.Start(n)()
		}
	}
	if got := l.size(); got > len(churn)/4 {
		t.Fatalf("after %d nodes came and went the table holds %d", len(churn), got)
	}
	if got := l.InFlight(held); got != 1 {
		t.Fatalf("the held node's count is %d after the sweeps, want 1", got)
	}
	done()
	// A node that was forgotten counts again from zero.
	again := l.Start(churn[0])
	if got := l.InFlight(churn[0]); got != 1 {
		t.Fatalf("a forgotten node restarted at %d, want 1", got)
	}
	again()
}

// TestLoadsCountsSurviveConcurrentSweeps starts and finishes requests from
// many goroutines over more nodes than a sweep keeps, under -race: while a
// request is in flight its node's count is never below one, and every count
// is back to zero at the end.
func TestLoadsCountsSurviveConcurrentSweeps(t *testing.T) {
	l := Loads{minSweep: 16} // sweep often
	all := loadNodes("n", 200)
	const goroutines = 4
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < 50*len(all); i += goroutines {
				n := all[(i*7)%len(all)]
				done := l.Start(n)
				if l.InFlight(n) < 1 {
					t.Errorf("a request in flight on %v is not counted", n)
					done()
					return
				}
				done()
			}
		})
	}
	wg.Wait()
	for _, n := range all {
		if got := l.InFlight(n); got != 0 {
			t.Fatalf("%v has %d in flight after every request ended", n, got)
		}
	}
}

// TestLeastLoadedReadsCountsAfterASweep checks that a picker whose nodes'
// loads were swept out while idle reads the counts Start keeps afterwards.
func TestLeastLoadedReadsCountsAfterASweep(t *testing.T) {
	l := &Loads{minSweep: 4}
	pair := loadNodes("p", 2)
	p := LeastLoaded(l)(pair).(*leastLoaded)
	for i := range 3 { // enough other snapshots for two sweeps
		l.counters(loadNodes(fmt.Sprintf("o%d-", i), 8))
	}
	if l.lookup(idOf(pair[0])) != nil || p.counts[0].Load().n.Load() != retired {
		t.Fatal("the idle pair was not swept out; the test proves nothing")
	}
	defer l.Start(pair[0])()
	for range 100 {
		if n, _ := p.Pick(PickInfo{}); n != pair[1] {
			t.Fatalf("picked %v, which has a request in flight", n)
		}
	}
}

// TestLoadsSweepCounts checks how many sweeps keep what: a node used since
// the last sweep survives the next, an idle one does not.
func TestLoadsSweepCounts(t *testing.T) {
	l := &Loads{minSweep: 4}
	a := loadNodes("a", 4)
	l.counters(a) // 4 entries, no sweep yet
	l.Start(a[0])()
	l.counters(loadNodes("b", 1)) // 5 > 4: sweep; all were new, so all stay
	if got := l.size(); got != 5 {
		t.Fatalf("after the first sweep %d entries, want 5", got)
	}
	l.Start(a[1])()
	l.counters(loadNodes("c", 6)) // 11 > 10: sweep; a1 was used since, b0 added
	if got, want := l.size(), 2+6; got != want {
		t.Fatalf("after the second sweep %d entries, want %d", got, want)
	}
	if l.lookup(idOf(a[1])) == nil || l.lookup(idOf(a[0])) != nil {
		t.Fatal("the sweep kept the wrong node")
	}
}
