package upstream

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// WithCaller tells the client who each call is made for: f returns the
// address of the client a request came from (the gateway's reads it
// through its trusted proxies). It keeps one caller from taking a service
// from the others: its failing calls cannot open the service's breaker
// (below), and its calls in flight cannot fill the service's concurrency
// limits (limit_share.go). Without it, a call is made for the caller its
// request's budget names (budget.Info.Caller: the gateway names the client
// it told apart, and every hop sends the name on in Sluice-Budget), so a
// backend's client keeps one client of the gateway from taking a service
// deeper in the chain as the gateway's does; a call whose budget names
// none (a backend calling for itself) is the one nameless caller's.
func WithCaller(f func(*http.Request) netip.Addr) Option {
	return func(c *Client) { c.callerOf = f }
}

// caller returns who r is made for: WithCaller's answer, else the caller
// r's budget names, else the zero Addr.
func (c *Client) caller(r *http.Request) netip.Addr {
	if c.callerOf == nil {
		info, _ := budget.FromContext(r.Context())
		return info.Caller
	}
	return c.callerOf(r)
}

// One caller cannot open a service's breaker.
//
// A breaker opens when most calls fail, on most nodes: what a dead service
// looks like. It is also what one client makes of a healthy service by
// sending, over and over, a request every node fails: a path on which the
// application answers 500, a query that runs past the per-try timeout.
// Counted as they come, that client's failures outnumber everyone else's
// successes, and the breaker refuses every caller of the service for
// OpenFor, again and again: one client takes the service from all the
// others.
//
// So when the calls of the window came from more than one caller
// (WithCaller), the breaker opens only if its rule still holds
// without the caller that failed most: the other callers' calls, at least a
// quarter of MinCalls of them, failed at FailureRatio too. A dead service
// fails every caller and opens; one caller's poison leaves the others'
// calls succeeding, and it stays closed. A breaker whose calls all came
// from one caller (a backend's client calling for itself, or any client
// whose calls name no caller) keeps the plain rule.
//
// Which caller failed most is counted in each slice of the window with
// Misra and Gries' frequent-items counters, heavyCallers of them: no map
// and no allocation per call. A caller with most of a slice's faults is
// always among them, its count short by at most the faults of other
// callers that found every counter taken; the rule is then judged with
// the others' faults counted high, so a dead service is never kept from
// opening by the approximation, and a poisoning caller among a crowd of
// others that also fail is not excused by it.

// heavyCallers is how many callers' faults a slice counts.
const heavyCallers = 4

// heavyCaller is a caller and its count of faults in a slice.
type heavyCaller struct {
	caller netip.Addr
	faults int
}

// sliceCallers is who made the calls of a breaker's slice.
type sliceCallers struct {
	first netip.Addr // the caller of the slice's first call
	many  bool       // a call of another caller was counted too
	heavy [heavyCallers]heavyCaller
}

// call counts a call made for c, the slice's first when first.
func (s *sliceCallers) call(c netip.Addr, first bool) {
	if first {
		s.first = c
	} else if c != s.first {
		s.many = true
	}
}

// fault counts a fault of a call made for c.
func (s *sliceCallers) fault(c netip.Addr) {
	free := -1
	for i := range s.heavy {
		h := &s.heavy[i]
		if h.faults > 0 && h.caller == c {
			h.faults++
			return
		}
		if h.faults == 0 && free < 0 {
			free = i
		}
	}
	if free >= 0 {
		s.heavy[free] = heavyCaller{caller: c, faults: 1}
		return
	}
	for i := range s.heavy {
		s.heavy[i].faults--
	}
}

// heaviest returns the caller whose calls failed most in the window, with
// its count of faults, and whether more than one caller made its calls.
func (br *breaker) heaviest(now time.Time) (top heavyCaller, many bool) {
	var tally [breakerSlices * heavyCallers]heavyCaller
	n := 0
	var first netip.Addr
	seen := false
	for sl := range br.inWindow(now) {
		if sl.calls == 0 {
			continue
		}
		cs := &sl.callers
		if cs.many || seen && cs.first != first {
			many = true
		}
		first, seen = cs.first, true
		for _, h := range cs.heavy {
			if h.faults == 0 {
				continue
			}
			j := 0
			for j < n && tally[j].caller != h.caller {
				j++
			}
			if j == n {
				n++
				tally[j].caller = h.caller
			}
			tally[j].faults += h.faults
		}
	}
	for _, h := range tally[:n] {
		if h.faults > top.faults {
			top = h
		}
	}
	return top, many
}

// failingForOthers reports whether the window's calls and faults, which
// meet the breaker's rule, still meet it without the caller that failed
// most, when more than one caller made them.
func (br *breaker) failingForOthers(now time.Time, calls, faults int) bool {
	top, many := br.heaviest(now)
	if !many {
		return true
	}
	others, othersFaults := calls-top.faults, faults-top.faults
	return others >= max(br.s.MinCalls/4, 1) && float64(othersFaults) >= br.s.FailureRatio*float64(others)
}
