package router

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
)

// Routing by host. A gateway that serves several names (api.example.com,
// admin.example.com) routes each name's requests among its own routes: a
// route with Hosts serves the requests whose host is one of them, ahead of
// the routes without Hosts, which serve every host. New then builds a
// router for each host named and one of the routes without Hosts, and
// ServeHTTP picks one by the request's host: the name as written (case,
// port and a final dot aside), else the wildcard of its first label
// ("*.example.com" covers a.example.com, not a.b.example.com nor
// example.com), else the routes without Hosts. A name's router holds its
// own routes, then those of the wildcard that covers it, then those
// without Hosts, each left out where one before it takes its requests (a
// route on a path of the same shape with a method in common), a route of
// every method ("*") kept for the methods left (serving): the most
// specific route serves. A router whose routes name no host has none of this: one
// nil check a request.

// byHost holds the routers of a router whose routes name hosts.
type byHost struct {
	exact map[string]*Router // by host name, normalized
	wild  map[string]*Router // by the suffix after "*."
	any   *Router            // the routes without Hosts
}

// pick returns the router of host (a request's Host).
func (b *byHost) pick(host string) *Router {
	h := requestHost(host)
	if rt, ok := b.exact[h]; ok {
		return rt
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		if rt, ok := b.wild[h[i+1:]]; ok {
			return rt
		}
	}
	return b.any
}

// requestHost returns a request's host as Hosts are compared: lower case,
// without its port or final dot.
func requestHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// routeHost returns h, one of a route's Hosts, normalized, or an error for
// what no request's host could match: a port, an empty label, a byte that
// is not a letter, digit, hyphen or dot, or a * anywhere but as the whole
// first label.
func routeHost(h string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(h, "."))
	name := strings.TrimPrefix(n, "*.")
	if name == "" {
		return "", fmt.Errorf("host %q: no name", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return "", fmt.Errorf("host %q: an empty label", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", fmt.Errorf("host %q: %q is not a host name's character (no port, no IPv6 address; * only as the whole first label)", h, c)
			}
		}
	}
	return n, nil
}

// newByHost builds the routers of routes, some of which name hosts.
func newByHost(routes []Route, client Doer, opts Options, realClock bool) (*Router, error) {
	var plain []int
	groups := make(map[string][]int)
	for i := range routes {
		if len(routes[i].Hosts) == 0 {
			plain = append(plain, i)
			continue
		}
		named := make(map[string]bool, len(routes[i].Hosts))
		for _, h := range routes[i].Hosts {
			n, err := routeHost(h)
			if err != nil {
				return nil, &FieldError{Route: i, Field: "hosts", Err: err}
			}
			if named[n] {
				return nil, &FieldError{Route: i, Field: "hosts", Err: fmt.Errorf("host %q is listed twice", h)}
			}
			named[n] = true
			groups[n] = append(groups[n], i)
		}
	}
	b := &byHost{exact: make(map[string]*Router), wild: make(map[string]*Router)}
	var err error
	// The routes without Hosts alone (none: every host but those named
	// answers 404), not every route, as newRouter's nil places would mean.
	if b.any, err = newRouter(pick(routes, plain), plain, client, opts, realClock); err != nil {
		return nil, err
	}
	for _, host := range slices.Sorted(maps.Keys(groups)) { // the first error the same every time
		own := groups[host]
		// The host's own routes, then (for a name) those of the wildcard
		// that covers it, then those without Hosts, each left out where
		// one before it takes its requests.
		tiers := [][]int{own, nil, plain}
		if i := strings.IndexByte(host, '.'); !strings.HasPrefix(host, "*.") && i > 0 {
			tiers[1] = groups["*."+host[i+1:]]
		}
		taken := make(map[string]bool)
		var sel []Route
		var places []int
		for _, tier := range tiers {
			var added []Route
			for _, i := range tier {
				for _, r := range serving(routes[i], taken) {
					added = append(added, r)
					places = append(places, i)
				}
			}
			for _, r := range added {
				taken[r.Method+" "+shape(r.Path)] = true
			}
			sel = append(sel, added...)
		}
		rt, err := newRouter(sel, places, client, opts, realClock)
		if err != nil {
			return nil, err
		}
		if suffix, ok := strings.CutPrefix(host, "*."); ok {
			b.wild[suffix] = rt
		} else {
			b.exact[host] = rt
		}
	}
	return &Router{routes: routes, hosts: b}, nil
}

// pick returns the routes at idx.
func pick(routes []Route, idx []int) []Route {
	out := make([]Route, len(idx))
	for k, i := range idx {
		out[k] = routes[i]
	}
	return out
}

// serving returns r as it serves a host on which the routes before it took
// the keys taken: r itself when none conflicts, none when r has one method
// and it is taken, and for a route of every method ("*") one copy of it
// for each method left (named as r is), so that a more specific route's
// GET leaves it the POSTs. HEAD goes with GET: a route that takes GET
// answers HEAD.
func serving(r Route, taken map[string]bool) []Route {
	if !shadowed(r, taken) {
		return []Route{r}
	}
	s := shape(r.Path)
	if r.Method != "*" || taken["* "+s] {
		return nil
	}
	var out []Route
	for _, m := range anyMethods {
		if taken[m+" "+s] || m == http.MethodHead && taken[http.MethodGet+" "+s] {
			continue
		}
		cp := r
		cp.Method, cp.Name = m, r.DisplayName()
		out = append(out, cp)
	}
	return out
}

// shadowed reports whether a route without Hosts would conflict with one of
// a host's routes, whose keys are taken: it then does not serve that host.
func shadowed(r Route, taken map[string]bool) bool {
	s := shape(r.Path)
	for _, key := range conflictKeys(r.Method, s) {
		if taken[key] {
			return true
		}
	}
	return false
}
