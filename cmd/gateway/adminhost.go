package main

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sluicehq/sluice/internal/problem"
)

// adminHosts guards a cleartext admin listener against DNS rebinding: a
// web page the operator opens can have its own name resolve to 127.0.0.1
// and then read, as its own origin, /admin/config, /admin/registry and
// /metrics (and, with -pprof, run profiles) from the operator's browser.
// Such a request names the page's host in its Host header, which no
// client of the admin listener names otherwise: a scraper, a probe or an
// operator's curl reaches it by address or as localhost. So a request is
// answered when its Host is an IP address, localhost (or a name under
// .localhost), empty (HTTP/1.0), or one of the names the configuration
// lists (admin.hosts, "*" for any); any other is refused with 421, the
// status for a request this server does not answer for that host.
// /healthz and /readyz answer any Host, as on every listener, for the
// health checks of balancers that send a name. A listener with TLS is not
// guarded: a page cannot rebind a name to it without its certificate
// failing in the browser.
type adminHosts struct {
	next  http.Handler
	names map[string]bool // lower case, without a trailing dot
	any   bool
}

// guardAdminHosts returns h behind the Host check of adminHosts, allowing
// the names listed besides addresses and localhost.
func guardAdminHosts(h http.Handler, listed []string) http.Handler {
	g := &adminHosts{next: h, names: make(map[string]bool, len(listed))}
	for _, n := range listed {
		if n == "*" {
			g.any = true
		}
		g.names[normalHost(n)] = true
	}
	return g
}

// ServeHTTP serves r if its Host is one the listener answers to.
func (g *adminHosts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.any || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || g.allowed(r.Host) {
		g.next.ServeHTTP(w, r)
		return
	}
	problem.Write(w, http.StatusMisdirectedRequest, problem.TypeBadRequest, "Misdirected Request",
		"the admin listener answers requests to an IP address or localhost, or to a host listed in admin.hosts: this one names another host")
}

// allowed reports whether the Host header hostport names an address,
// localhost or a listed name.
func (g *adminHosts) allowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if _, err := netip.ParseAddr(host); err == nil { // a zone too: [fe80::1%eth0]
		return true
	}
	host = normalHost(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || g.names[host]
}
