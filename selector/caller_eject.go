package selector

import (
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// One caller cannot eject a service's nodes.
//
// A node is ejected after consecutive faults, which is right when the node
// is what fails. It is wrong when one client sends, again and again, a
// request that every node fails (any input that crashes a handler): its
// faults come on every node, retries spread them further, and with the
// defaults nodes were ejected again and again, up to the cap of half of
// them, so that every other client's calls went to what was left
// (TestOnePoisoningClientEjectsNoNode in e2e/hostile).
//
// So when a node's consecutive faults all come from one caller, while
// other callers call the service, and that caller has also failed on
// another node of the service within faultsElsewhereWithin, they do not
// eject it: what fails is that caller's requests, not the node. They keep
// counting, and the first fault of another caller's call on the node
// ejects it; a success of anyone's starts the count over, as always. A
// node that fails everyone is ejected as before, and so is one that fails
// one caller alone while its other nodes serve that caller: its faults
// come on no other node. Without callers told apart (ReportOf's caller
// the zero Addr, others false) every fault counts, as before. The breaker
// has the same rule for whole services (upstream/callers.go).

const (
	// faultsElsewhereWithin is how recent a caller's fault on another node
	// of the service must be for its faults on a node not to eject it.
	faultsElsewhereWithin = 10 * time.Second
	// recentFaultSlots is how many (caller, node) pairs a service's
	// recentFaults keeps: a caller failing on three nodes fits, with room
	// for another caller's.
	recentFaultSlots = 4
)

// recentFaults keeps a service's last faults, one slot per caller and
// node, each with the time of its last fault.
type recentFaults [recentFaultSlots]struct {
	caller netip.Addr
	node   string // Node.Key
	at     time.Time
}

// noteFault records a fault of caller's call on n, whose key is key, at
// now, and reports whether caller failed on another node of n's service
// within faultsElsewhereWithin. It is called with e.mu held.
func (e *Ejector) noteFault(n *registry.Node, key string, caller netip.Addr, now time.Time) bool {
	rf := e.faults[n.Service]
	if rf == nil {
		rf = new(recentFaults)
		e.faults[n.Service] = rf
	}
	elsewhere, slot := false, -1
	for i := range rf {
		f := &rf[i]
		switch {
		case f.at.IsZero():
			if slot < 0 {
				slot = i
			}
		case f.caller != caller:
		case f.node == key:
			slot = i
		case now.Sub(f.at) < faultsElsewhereWithin:
			elsewhere = true
		}
	}
	if slot < 0 { // every slot is another pair's: take the oldest
		slot = 0
		for i := range rf {
			if rf[i].at.Before(rf[slot].at) {
				slot = i
			}
		}
	}
	rf[slot].caller, rf[slot].node, rf[slot].at = caller, key, now
	return elsewhere
}
