package upstream

import (
	"time"

	"github.com/sluicehq/sluice/registry"
)

// A node that answers nothing is at fault, whoever's budget ran out.
//
// An attempt that ends with the call's budget, no answer come, is nobody's
// fault (Abandoned): the budget is the caller's choice, and a node is not
// to blame for a request slower than a caller cared to wait. But a node
// that accepts connections and answers nothing at all (a process
// deadlocked, stopped, out of threads) then never counted a fault: a
// request that is not idempotent gets no per-try timeout, so every POST
// sent there waited out its budget and was answered 504, two every five
// seconds with four clients, for as long as the node hung; it was never
// ejected (TestUnreachableNodeSilentToPosts in e2e/hostile).
//
// So an attempt that ran out of budget counts against its node when the
// node answered nothing meanwhile, to any request, for long enough to
// tell: at least silentAfter, and silentFactor times its baseline round
// trip. A healthy node serving a slow request answers the others' in the
// meantime; one serving only requests slower than their budgets fails
// them all anyway. The caller rules of ejection (caller_eject.go) keep one
// client's slow requests from ejecting a node others use.

const (
	// silentAfter is the least time a node must have answered nothing.
	silentAfter = time.Second
	// silentFactor is how many times its baseline round trip it must be.
	silentFactor = 10
)

// silent reports whether n answered nothing from sent, when an attempt was
// sent to it, to now, for long enough to tell (see above). It needs the
// limits: without them, nothing tells when n last answered.
func (l *Limits) silent(n *registry.Node, sent, now time.Time) bool {
	if l == nil {
		return false
	}
	nl := l.get(n)
	waited := now.Sub(sent)
	if nl == nil || waited < silentAfter || nl.used.Load() >= sent.UnixNano() {
		return false
	}
	nl.mu.Lock()
	base := nl.base
	nl.mu.Unlock()
	return float64(waited) >= silentFactor*base
}
