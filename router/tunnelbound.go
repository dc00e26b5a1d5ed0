package router

import (
	"net/http"
	"net/netip"
	"strconv"

	"github.com/sluicehq/sluice/internal/problem"
)

// A switched connection holds two descriptors, its client's and its
// node's, where the bound of client connections (server.ConnLimit, half
// the descriptor limit by default) counts one: the other half is kept for
// the connections to nodes, the admin listener, Consul, Redis and files.
// Tunnels out of the nodes' pools (h1's leave) were bounded by nothing
// else, so clients of a few addresses, each within its share of the
// connections, that opened WebSockets took every descriptor: with a limit
// of 128, 53 tunnels from 16 addresses left none, a client connected
// before them got 503 for every request (its node could not be dialled)
// and the admin listener accepted nothing. So a Tunnels may be given a
// bound (SetMax, half the client connections' in the gateway): a handshake
// beyond it is answered 503 before it reaches a node, and the tunnels'
// nodes' descriptors stay within it.
//
// That bound alone was shared by nobody: 4 addresses, each within its
// share of the client connections (8 of 64), took all 32 places, and every
// other client's handshake got 503 for as long as they held them. So each
// client address may be given a share of the places as well
// (SetMaxPerAddress), as it has of the client connections: a handshake
// past its address's share is refused the same way.

// SetMax bounds the connections switched at once, the handshakes under way
// included, to n; n ≤ 0 bounds them by nothing (the zero value's way).
func (ts *Tunnels) SetMax(n int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.max = n
}

// SetMaxPerAddress bounds the connections switched at once for one client
// address, the handshakes under way included, to n, within SetMax's bound.
// key returns the address a request counts under, and false for a request
// no address's bound applies to (a trusted proxy's, which carries every
// client's): the gateway keys them by the client's address, read through
// the trusted proxies' X-Forwarded-For as rate limits read it, as the
// bound of client connections keys a peer (server.AddrKey). n ≤ 0 or a nil
// key bounds no address. Places taken before it is called count under no
// address.
func (ts *Tunnels) SetMaxPerAddress(n int, key func(*http.Request) (netip.Prefix, bool)) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if n <= 0 || key == nil {
		n, key = 0, nil
	}
	ts.perAddr, ts.key = n, key
	if ts.byAddr == nil {
		ts.byAddr = make(map[netip.Prefix]int)
	}
}

// Max returns the bound of SetMax; 0 for none.
func (ts *Tunnels) Max() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return max(ts.max, 0)
}

// MaxPerAddress returns the bound of SetMaxPerAddress; 0 for none.
func (ts *Tunnels) MaxPerAddress() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.perAddr
}

// Places returns the places taken: the open tunnels and the handshakes
// under way. Once every client has gone it is zero again, whichever way
// each tunnel ended; anything else would be a place lost for good.
func (ts *Tunnels) Places() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.places
}

// tunnelPlace is a place taken (Tunnels.take): under the address key when
// keyed.
type tunnelPlace struct {
	taken bool
	keyed bool
	key   netip.Prefix
}

// take takes a place for r's handshake, and reports false, with why, when
// every place is taken, or every place of r's address. A nil ts has room
// for all. The handshake gives it back (give) unless it switched: its
// tunnel's removal does then, with the tunnel (remove).
func (ts *Tunnels) take(r *http.Request) (p tunnelPlace, ok bool, why string) {
	if ts == nil {
		return tunnelPlace{}, true, ""
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.max > 0 && ts.places >= ts.max {
		return tunnelPlace{}, false, "the gateway holds as many switched connections as it keeps (" + strconv.Itoa(ts.max) + ")"
	}
	if ts.key != nil {
		p.key, p.keyed = ts.key(r)
	}
	if p.keyed {
		n := ts.byAddr[p.key]
		if n >= ts.perAddr {
			return tunnelPlace{}, false, "the gateway holds as many switched connections for this client address as it keeps for one (" +
				strconv.Itoa(ts.perAddr) + ")"
		}
		ts.byAddr[p.key] = n + 1
	}
	ts.places++
	p.taken = true
	return p, true, ""
}

// give gives back p, a place take took for a handshake that did not
// switch.
func (ts *Tunnels) give(p tunnelPlace) {
	if ts == nil {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.free(p)
}

// free gives back p, when taken; ts.mu is held.
func (ts *Tunnels) free(p tunnelPlace) {
	if !p.taken {
		return
	}
	ts.places--
	if p.keyed {
		if n := ts.byAddr[p.key] - 1; n > 0 {
			ts.byAddr[p.key] = n
		} else {
			delete(ts.byAddr, p.key)
		}
	}
}

// refuseTunnel answers a handshake that found no place (why) 503, as a
// gateway overloaded: its client may try again a little later.
func refuseTunnel(w http.ResponseWriter, why string) {
	w.Header().Set("Retry-After", "1")
	problem.Write(w, http.StatusServiceUnavailable, problem.TypeOverloaded, "Gateway overloaded", why)
}
