package router

import (
	"net/http"
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

// SetMax bounds the connections switched at once, the handshakes under way
// included, to n; n ≤ 0 bounds them by nothing (the zero value's way).
func (ts *Tunnels) SetMax(n int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.max = n
}

// take takes a place for a handshake, and reports false, with the bound,
// when every place is taken. A nil ts has room for all. The handshake
// gives it back (give) unless it switched: its tunnel's removal does then,
// with the tunnel (remove).
func (ts *Tunnels) take() (ok bool, max int) {
	if ts == nil {
		return true, 0
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.max > 0 && ts.places >= ts.max {
		return false, ts.max
	}
	ts.places++
	return true, ts.max
}

// give gives back a place take took for a handshake that did not switch.
func (ts *Tunnels) give() {
	if ts == nil {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.places--
}

// refuseTunnel answers a handshake that found no place 503, as a gateway
// overloaded: its client may try again a little later.
func refuseTunnel(w http.ResponseWriter, max int) {
	w.Header().Set("Retry-After", "1")
	problem.Write(w, http.StatusServiceUnavailable, problem.TypeOverloaded, "Gateway overloaded",
		"the gateway holds as many switched connections as it keeps ("+strconv.Itoa(max)+")")
}
