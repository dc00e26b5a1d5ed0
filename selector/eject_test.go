package selector

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func ejectNodes(n int) []*registry.Node {
	nodes := make([]*registry.Node, n)
	for i := range nodes {
		nodes[i] = &registry.Node{Service: "svc", Address: fmt.Sprintf("10.0.0.%d:80", i+1)}
	}
	return nodes
}

func fail(e *Ejector, n *registry.Node, times int) {
	for i := 0; i < times; i++ {
		e.Report(n, true)
	}
}

func TestEjectAfterConsecutiveFaultsAndReturnOnProbation(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now, BaseTime: 30 * time.Second, MaxTime: 5 * time.Minute})
	nodes := ejectNodes(4)
	fail(e, nodes[0], 4)
	e.Report(nodes[0], false) // a success in between: the count starts over
	fail(e, nodes[0], 4)
	if got := e.Available("svc", nodes); len(got) != 4 {
		t.Fatalf("ejected after non-consecutive faults: %d available", len(got))
	}
	fail(e, nodes[0], 1)
	got := e.Available("svc", nodes)
	if len(got) != 3 || contains(got, nodes[0]) {
		t.Fatalf("after 5 consecutive faults: %v", got)
	}
	if again := e.Available("svc", nodes); &again[0] != &got[0] {
		t.Error("Available did not return the same slice for an unchanged view")
	}
	clk.advance(30 * time.Second)
	if got := e.Available("svc", nodes); len(got) != 4 {
		t.Fatalf("after 30s the node is not back: %d available", len(got))
	}
	// On probation, one fault ejects it again, for twice as long.
	fail(e, nodes[0], 1)
	if got := e.Available("svc", nodes); contains(got, nodes[0]) {
		t.Fatal("a fault on probation did not eject again")
	}
	clk.advance(59 * time.Second)
	if got := e.Available("svc", nodes); contains(got, nodes[0]) {
		t.Fatal("the second ejection did not last 60s")
	}
	clk.advance(time.Second)
	e.Report(nodes[0], false)
	if got := e.Available("svc", nodes); len(got) != 4 {
		t.Fatalf("a success after the ejection did not bring the node back: %v", got)
	}
	if len(e.Ejections()) != 0 {
		t.Errorf("Ejections = %v, want none", e.Ejections())
	}
}

func TestEjectionCapAndPanic(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now, ConsecutiveFaults: 1})
	nodes := ejectNodes(4)
	for i, n := range nodes[:3] {
		fail(e, n, 1)
		clk.advance(time.Duration(i+1) * time.Millisecond)
	}
	got := e.Available("svc", nodes)
	if len(got) != 2 || !contains(got, nodes[3]) || !contains(got, nodes[0]) {
		t.Fatalf("with 3 of 4 ejected and a 50%% cap: %v, want the healthy node and the one due back first", got)
	}
	fail(e, nodes[3], 1)
	got = e.Available("svc", nodes)
	if len(got) != 2 || !contains(got, nodes[0]) || !contains(got, nodes[1]) {
		t.Fatalf("every node ejected: %v, want the two due back soonest (panic within the cap)", got)
	}
}

func TestPanicLeavesOutNodesKnownDead(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now, ConsecutiveFaults: 1})
	nodes := ejectNodes(3)
	for _, n := range nodes {
		fail(e, n, 1) // every node ejected
	}
	e.Refused(nodes[2]) // and one of them refuses connections
	got := e.Available("svc", nodes)
	if len(got) != 2 || contains(got, nodes[2]) {
		t.Fatalf("every node ejected, one dead: %v, want the two others", got)
	}
	e.Refused(nodes[0])
	e.Refused(nodes[1])
	if got := e.Available("svc", nodes); len(got) != 3 {
		t.Fatalf("every node dead: %d available, want all rather than none", len(got))
	}
}

func TestRefusedNodeIsLeftOutThenProbed(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now})
	nodes := ejectNodes(3)
	for range 10 {
		e.Refused(nodes[1]) // never a fault towards ejection
	}
	if got := e.Available("svc", nodes); len(got) != 2 || contains(got, nodes[1]) {
		t.Fatalf("a node that refused a connection: %v, want it left out", got)
	}
	clk.advance(DefaultRefusedFor)
	if got := e.Available("svc", nodes); len(got) != 3 {
		t.Fatalf("after %v: %d available, want the refused node back for a probe", DefaultRefusedFor, len(got))
	}
	e.Refused(nodes[1])
	if got := e.Available("svc", nodes); contains(got, nodes[1]) {
		t.Fatal("a failed probe did not leave the node out again")
	}
	clk.advance(DefaultRefusedFor)
	e.Report(nodes[1], false)
	if got := e.Available("svc", nodes); len(got) != 3 {
		t.Fatalf("a node that answered: %d available", len(got))
	}
	if len(e.Ejections()) != 0 {
		t.Fatalf("refusals ejected the node: %v", e.Ejections())
	}
}

func TestArrivedNodeGetsAProbeNotTheRestOfItsEjection(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now})
	nodes := ejectNodes(3)
	fail(e, nodes[0], DefaultEjectFaults)
	e.Refused(nodes[0])
	if got := e.Available("svc", nodes); contains(got, nodes[0]) {
		t.Fatal("not ejected")
	}
	e.Arrived(nodes[0]) // registered again: a new instance
	if got := e.Available("svc", nodes); len(got) != 3 {
		t.Fatalf("a node that registered again: %d available, want it back at once", len(got))
	}
	fail(e, nodes[0], 1) // on probation: one fault ejects it again
	if got := e.Available("svc", nodes); contains(got, nodes[0]) {
		t.Fatal("a fault on probation did not eject the new instance")
	}
}

func TestEjectionGrowthIsCapped(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now})
	nodes := ejectNodes(3)
	fail(e, nodes[0], DefaultEjectFaults)
	for range 40 { // on probation: each fault ejects again, for longer
		clk.advance(DefaultEjectMaxTime)
		fail(e, nodes[0], 1)
	}
	ej := e.Ejections()
	if len(ej) != 1 || ej[0].Until.Sub(clk.now()) != DefaultEjectMaxTime {
		t.Fatalf("ejections %+v, want one lasting the %v cap", ej, DefaultEjectMaxTime)
	}
}

func TestEjectionSurvivesARefresh(t *testing.T) {
	e := NewEjector(EjectSettings{ConsecutiveFaults: 1})
	old := ejectNodes(3)
	fail(e, old[1], 1)
	fresh := ejectNodes(3) // same identities, new snapshot
	if got := e.Available("svc", fresh); len(got) != 2 || contains(got, fresh[1]) {
		t.Fatalf("ejection lost on a discovery refresh: %v", got)
	}
}

func TestEjectorFastPathAllocatesNothing(t *testing.T) {
	e := NewEjector(EjectSettings{})
	nodes := ejectNodes(100)
	if a := testing.AllocsPerRun(100, func() {
		_ = e.Available("svc", nodes)
		e.Report(nodes[3], false)
	}); a != 0 {
		t.Errorf("healthy path allocates %v per call", a)
	}
}

// TestOnEjectCountsEachEjection checks that OnEject hears every ejection,
// the one after probation included, and nothing else.
func TestOnEjectCountsEachEjection(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	var ejected []string
	e := NewEjector(EjectSettings{ConsecutiveFaults: 3, BaseTime: time.Second, Now: c.now,
		OnEject: func(n *registry.Node) { ejected = append(ejected, n.Address) }})
	nodes := ejectNodes(3)
	fail(e, nodes[0], 2)
	if len(ejected) != 0 {
		t.Fatalf("ejected %v after 2 faults, want none", ejected)
	}
	fail(e, nodes[0], 1)
	fail(e, nodes[0], 5) // still ejected: stragglers add nothing
	c.advance(2 * time.Second)
	fail(e, nodes[0], 1) // on probation: ejected again at once
	if len(ejected) != 2 || ejected[0] != nodes[0].Address || ejected[1] != nodes[0].Address {
		t.Fatalf("ejections %v, want node 0 twice", ejected)
	}
}
