package upstream

import (
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// One caller cannot fill a service's concurrency limits.
//
// A node's limit falls, and its queue check refuses, when its answers slow
// down and come far apart while many are in flight (limit.go): that is how
// it looks when the node queues. It is also how it looks when one client
// sends, many at a time, a request the node takes long to answer (a
// costly search, an export): every other client's requests, fast ones,
// were then refused 503 overloaded. Through the gateway with the defaults,
// 40 such requests of 2 s at a time, from one client, had 45 of another
// client's 100 requests refused (TestOneSlowClientKeepsTheServiceForOthers
// in e2e/hostile).
//
// So while other callers have calls in flight, or called the service in
// the last shareRecent (WithCaller tells callers apart), a caller that holds more than half of
// the service's calls in flight gets no more once they fill shareNearFull
// of the sum of its nodes' limits, each limit at most the node's
// connections (capacity): the rest is kept for the others, whose
// calls are admitted as before. Alone, a caller may fill the limits as
// before: a gateway behind a proxy it does not trust sees one caller, and
// loses nothing. A refused call is an *OverloadedError, as one refused by
// the limits is, counted as shed. And another caller's call is judged by
// the queue check and the node's limit without the heavy caller's share
// of the calls in flight (enter).

const (
	// shareNearFull is the share of a service's limits in flight past
	// which a caller that holds most of them gets no more.
	shareNearFull = 0.75
	// shareRecent is how recently another caller must have called for a
	// caller's share to be bounded.
	shareRecent = time.Second
)

// callerShare is what a Limits keeps about the callers of one service.
type callerShare struct {
	mu       sync.Mutex
	inflight map[netip.Addr]int // calls in flight per caller but heavy; zeros until swept (leave)
	total    int                // calls in flight
	heavy    netip.Addr         // the caller with most calls in flight, as last seen
	heavyN   int                // heavy's calls in flight, kept beside the map (see count)
	recent   [2]recentCaller    // the last two callers seen, each with its last call
}

type recentCaller struct {
	addr netip.Addr
	at   time.Time // zero: the slot is empty
}

// count returns c's calls in flight. The heavy caller's are heavyN alone:
// its entry in the map, if any, is stale until another caller becomes the
// heavy one (enter writes it back then). The heavy caller is most often the
// caller, and the lone caller always: a lookup and a store in the map for
// it, at each call's start and end, cost about 370 instructions a request
// (bench/instr.sh).
func (sh *callerShare) count(c netip.Addr) int {
	if c == sh.heavy {
		return sh.heavyN
	}
	return sh.inflight[c]
}

// note records a call of c at now, and reports whether another caller
// called within shareRecent before it.
func (sh *callerShare) note(c netip.Addr, now time.Time) bool {
	other, slot := false, -1
	for i := range sh.recent {
		r := &sh.recent[i]
		switch {
		case r.at.IsZero():
		case r.addr == c:
			slot = i
		case now.Sub(r.at) < shareRecent:
			other = true
		}
	}
	if slot < 0 { // the slot of the caller seen least recently
		slot = 0
		if sh.recent[1].at.Before(sh.recent[0].at) {
			slot = 1
		}
	}
	sh.recent[slot] = recentCaller{addr: c, at: now}
	return other
}

// share returns the callers of service, making them at the first call.
func (l *Limits) share(service string) *callerShare {
	if sh, ok := l.shares.Load(service); ok {
		return sh
	}
	sh, _ := l.shares.LoadOrStore(service, &callerShare{inflight: make(map[netip.Addr]int)})
	return sh
}

// enter counts a call of caller to service, at now, whose nodes are
// nodes, unless its share is spent (see above); it reports whether it
// counted it (a counted call must leave), the share of the nodes' calls
// in flight that the call's queue check leaves out (see below), and
// whether other callers call the service (for the ejector's rule:
// selector/caller_eject.go). A counted call's end passes sh, the service's
// share, to leave: one lookup of the service's name for both.
func (l *Limits) enter(service string, caller netip.Addr, nodes []*registry.Node, now time.Time) (sh *callerShare, ok bool, aside float64, others bool) {
	if l == nil {
		return nil, true, 0, false
	}
	sh = l.share(service)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mine := sh.count(caller)
	others = sh.note(caller, now) || sh.total > mine // another called of late, or has calls in flight
	if others && 2*mine > sh.total && float64(sh.total) >= shareNearFull*float64(l.capacity(nodes)) {
		return sh, false, 0, others
	}
	// The queue check (Limits.admit) takes every request in flight on a
	// node as one ahead of the new one. One caller's slow requests, many
	// at a time, make every node's queue look long (answers come far
	// apart, and many are in flight), and its check then refused every
	// caller. Another caller's request is judged without the heavy
	// caller's share of the requests in flight, by the queue check and
	// by the node's limit, which those requests make fall: the heavy
	// caller's own requests are still judged by them all, and refused
	// once they would queue, and the limits and this share bound what it
	// holds.
	if others && caller != sh.heavy {
		if h := sh.heavyN; 2*h > sh.total {
			aside = float64(h) / float64(sh.total)
		}
	}
	sh.total++
	switch {
	case caller == sh.heavy:
		sh.heavyN = mine + 1
	case mine+1 > sh.heavyN: // caller becomes the heavy one: the last one's count goes back in the map
		sh.inflight[sh.heavy] = sh.heavyN
		sh.heavy, sh.heavyN = caller, mine+1
	default:
		sh.inflight[caller] = mine + 1
	}
	return sh, true, aside, others
}

// leave ends a call of caller that enter counted in sh.
func (sh *callerShare) leave(caller netip.Addr) {
	if sh == nil {
		return
	}
	sh.mu.Lock()
	var n int
	if caller == sh.heavy {
		n = sh.heavyN - 1
		sh.heavyN = max(n, 0)
	} else {
		n = sh.inflight[caller] - 1
		sh.inflight[caller] = max(n, 0)
	}
	sh.total--
	if n <= 0 && len(sh.inflight) > 2*sh.total+shareSweep {
		maps.DeleteFunc(sh.inflight, func(_ netip.Addr, n int) bool { return n <= 0 })
	}
	sh.mu.Unlock()
}

// shareSweep is how many callers with no call in flight a service's share
// keeps beyond twice its calls in flight before leave forgets them. A
// caller's count that falls to zero stays: a caller with one call at a time
// (most clients of an edge) had its count deleted at every call's end and
// added again at the next's. The sweep's cost, a pass over the map, is
// paid once per shareSweep callers at least.
const shareSweep = 32

// capacity returns the sum of the limits of nodes (Max for a node not yet
// seen), each at most the calls its connections carry at once
// (LimitSettings.MaxConnsPerNode); with no nodes known, as many calls as
// can be. Summed at the limits alone (1,000 a node by default, 256
// connections), one caller filled a node's connections before its share
// was near full: three HTTP/2 connections of 100 streams each, from one
// address, held all 256 of a node's, and another client's requests
// queued behind the rest of them for a connection, past their budget
// (TestOneClientsHTTP2StreamsLeaveANodesConnectionsToOthers in
// e2e/hostile).
func (l *Limits) capacity(nodes []*registry.Node) int64 {
	if len(nodes) == 0 {
		return 1<<63 - 1
	}
	var sum int64
	for _, n := range nodes {
		limit := int64(l.s.Max)
		if nl := l.get(n); nl != nil {
			limit = nl.limit.Load()
		}
		if c := l.s.MaxConnsPerNode; c > 0 {
			limit = min(limit, int64(c))
		}
		sum += limit
	}
	return sum
}
