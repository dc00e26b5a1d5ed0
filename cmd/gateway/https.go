package main

import (
	"crypto/x509"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/internal/tlscert"
)

// defaultHTTPSPort is where redirectHTTPS sends clients when the listener
// names no port; it is left out of the URL.
const defaultHTTPSPort = 443

// redirectHTTPS is the handler of a redirect_https listener of a gateway
// that knows no host it serves over TLS: it redirects any plain host (see
// httpsRedirect).
func redirectHTTPS(port int) http.Handler { return httpsRedirect{port: port} }

// httpsRedirect answers every request with a 308 to the same host, path
// and query over https, on port (0: 443, left out of the URL). 308 keeps
// the method and body, so that a client that follows it repeats a POST as
// a POST. A Host that is not a plain host name or address is answered 400
// rather than echoed into a Location.
//
// When the gateway serves hosts over TLS itself (served holds the names of
// its acme domains and certificates), a Host that is none of them is
// answered 400 too, as Caddy does: redirecting any Host made the gateway
// an open redirect for whoever can set the Host a cache or proxy in front
// forwards, to a host this gateway does not even serve. When served is
// empty (no route listener has tls, as when TLS ends in front of the
// gateway, or its certificates name no host), there is nothing to compare
// with, and any plain host is redirected.
type httpsRedirect struct {
	port   int
	served *tlsHosts
}

// ServeHTTP redirects r, or refuses it (see httpsRedirect).
func (h httpsRedirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !plainHost(host) {
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Bad Request",
			"this listener redirects to https, which needs a Host header naming the host")
		return
	}
	if !h.served.empty() && !h.served.has(host) {
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Bad Request",
			"host "+host+" is not served over https by this gateway: this listener redirects only the hosts of its certificates and acme domains")
		return
	}
	if h.port != 0 && h.port != defaultHTTPSPort {
		host = net.JoinHostPort(host, strconv.Itoa(h.port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	w.Header().Set("Location", "https://"+host+r.URL.RequestURI())
	w.WriteHeader(http.StatusPermanentRedirect)
}

// plainHost reports whether h is an IP address or a host name of letters,
// digits, dots, hyphens and underscores.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// tlsHosts is the set of hosts the gateway serves over TLS, which a
// redirect to https may name. It is built once, from the configuration
// the listeners are built from, and only read after: a nil or empty set
// knows no host.
type tlsHosts struct {
	names     map[string]bool // lower case, without a trailing dot
	wildcards map[string]bool // "example.com" for a *.example.com name
	ips       map[netip.Addr]bool
}

// servedOverTLS returns the hosts the route listeners ls serve over TLS:
// their acme domains, and the DNS names and IP addresses (the subject
// alternative names) of their certificates, read from the files now. The
// admin listener is left out: a redirect of route traffic never goes there.
func servedOverTLS(ls []config.Listener) (*tlsHosts, error) {
	s := &tlsHosts{names: map[string]bool{}, wildcards: map[string]bool{}, ips: map[netip.Addr]bool{}}
	for _, l := range ls {
		if l.TLS == nil {
			continue
		}
		if l.TLS.ACME != nil {
			for _, d := range l.TLS.ACME.Domains {
				s.addName(d)
			}
		}
		if len(l.TLS.Pairs()) == 0 {
			continue
		}
		certs, err := tlscert.Load(l.TLS.Pairs())
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			leaf := c.Leaf
			if leaf == nil {
				if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
					return nil, err
				}
			}
			s.addCert(leaf)
		}
	}
	return s, nil
}

// addCert adds the subject alternative names of leaf. Its common name is
// left out, as crypto/tls and browsers leave it out when they verify.
func (s *tlsHosts) addCert(leaf *x509.Certificate) {
	for _, n := range leaf.DNSNames {
		s.addName(n)
	}
	for _, ip := range leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			s.ips[a.Unmap()] = true
		}
	}
}

// addName adds a DNS name; *.parent covers one label under parent. Other
// names with a wildcard match no host name, and are left out.
func (s *tlsHosts) addName(n string) {
	n = normalHost(n)
	if parent, ok := strings.CutPrefix(n, "*."); ok && parent != "" && !strings.Contains(parent, "*") {
		s.wildcards[parent] = true
	} else if n != "" && !strings.Contains(n, "*") {
		s.names[n] = true
	}
}

// empty reports whether s knows no host.
func (s *tlsHosts) empty() bool {
	return s == nil || len(s.names)+len(s.wildcards)+len(s.ips) == 0
}

// has reports whether host (a plain host, without its port) is served: an
// address among the certificates' addresses, or a name, in any case and
// with or without its trailing dot, listed or under a wildcard by one
// label. An address matches addresses only, as in crypto/x509.
func (s *tlsHosts) has(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return s.ips[a.Unmap()]
	}
	host = normalHost(host)
	if s.names[host] {
		return true
	}
	label, parent, ok := strings.Cut(host, ".")
	return ok && label != "" && s.wildcards[parent]
}

// normalHost is a host name in lower case without its trailing dot.
func normalHost(n string) string {
	return strings.ToLower(strings.TrimSuffix(n, "."))
}

// hsts adds Strict-Transport-Security to every answer of next.
func hsts(c config.HSTS, next http.Handler) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(c.MaxAge/time.Second), 10)
	if c.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", v)
		next.ServeHTTP(w, r)
	})
}
