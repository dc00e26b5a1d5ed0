package selector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// One caller failing on every node of a service, while others call it, is
// that caller's requests failing: its faults eject no node, however many
// (caller_eject.go).
func TestOneCallersFaultsEverywhereEjectNothing(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	e := NewEjector(EjectSettings{Now: clk.now})
	nodes := ejectNodes(3)
	poison := netip.MustParseAddr("203.0.113.66")
	for range 20 {
		for _, n := range nodes {
			e.ReportOf(n, true, poison, true)
			clk.advance(time.Millisecond)
		}
	}
	if ej := e.Ejections(); len(ej) != 0 {
		t.Fatalf("one caller's faults on every node ejected %v", ej)
	}
	// The first fault of another caller's call on a node ejects it: it
	// fails them too.
	e.ReportOf(nodes[1], true, netip.MustParseAddr("198.51.100.1"), true)
	if got := e.Available("svc", nodes); len(got) != 2 || contains(got, nodes[1]) {
		t.Fatalf("another caller's fault after the count did not eject the node: %v", got)
	}
}

// The same faults eject as before when the caller is alone (a gateway
// behind a proxy it does not trust, a backend's own client), when the
// caller fails on that node only (the node fails it, the others serve
// it), and when its faults elsewhere are old.
func TestOneCallersFaultsEjectWhenTheyAreTheNodes(t *testing.T) {
	poison := netip.MustParseAddr("203.0.113.66")
	cases := map[string]func(e *Ejector, clk *clock) bool{
		"alone": func(e *Ejector, clk *clock) bool {
			nodes := ejectNodes(3)
			for range 5 {
				e.ReportOf(nodes[2], true, poison, false)
				e.ReportOf(nodes[0], true, poison, false)
			}
			return ejected(e, nodes[0])
		},
		"on one node": func(e *Ejector, clk *clock) bool {
			nodes := ejectNodes(3)
			for range 5 {
				e.ReportOf(nodes[0], true, poison, true)
				e.ReportOf(nodes[1], false, poison, true) // its retry succeeds elsewhere
			}
			return ejected(e, nodes[0])
		},
		"old faults elsewhere": func(e *Ejector, clk *clock) bool {
			nodes := ejectNodes(3)
			e.ReportOf(nodes[1], true, poison, true)
			clk.advance(faultsElsewhereWithin)
			for range 5 {
				e.ReportOf(nodes[0], true, poison, true)
			}
			return ejected(e, nodes[0])
		},
		"unknown callers": func(e *Ejector, clk *clock) bool {
			nodes := ejectNodes(3)
			for range 5 {
				e.Report(nodes[2], true)
				e.Report(nodes[0], true)
			}
			return ejected(e, nodes[0])
		},
	}
	for name, run := range cases {
		clk := &clock{t: time.Unix(0, 0)}
		if !run(NewEjector(EjectSettings{Now: clk.now}), clk) {
			t.Errorf("%s: 5 consecutive faults did not eject the node", name)
		}
	}
}

// ejected reports whether n is among e's ejections (whether or not the cap
// on the share kept out leaves it out).
func ejected(e *Ejector, n *registry.Node) bool {
	for _, ej := range e.Ejections() {
		if ej.Node == n.Key() {
			return true
		}
	}
	return false
}
