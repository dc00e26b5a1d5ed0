package middleware

import (
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the networks whose X-Forwarded-For the gateway
// believes: the load balancers in front of it. The zero value (or nil)
// trusts no one, and the client is the connection's peer.
type TrustedProxies struct {
	Networks
}

// ParseTrustedProxies parses CIDR prefixes ("10.0.0.0/8") or single
// addresses ("192.0.2.7", taken as /32 or /128), as ParseNetworks does.
func ParseTrustedProxies(cidrs []string) (*TrustedProxies, error) {
	n, err := ParseNetworks(cidrs)
	if err != nil {
		return nil, err
	}
	return &TrustedProxies{*n}, nil
}

// Trusts reports whether a is in one of the trusted prefixes (see trusts).
func (t *TrustedProxies) Trusts(a netip.Addr) bool { return t.trusts(a) }

// trusts reports whether a is in one of the trusted prefixes (see
// Networks.Contains).
func (t *TrustedProxies) trusts(a netip.Addr) bool {
	return t != nil && t.Contains(a)
}

// ClientIP returns the address of the client that sent r: the connection's
// peer, unless the peer is a trusted proxy, in which case X-Forwarded-For
// is read from the right, skipping trusted proxies, and the first address
// not trusted (or the last one readable) is the client. It returns the zero
// Addr when the peer's address cannot be read. IPv4-mapped IPv6 addresses
// are unmapped.
func (t *TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	client := peer.Unmap()
	if !t.trusts(client) {
		return client
	}
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		if list == "" {
			continue // an empty line holds no element
		}
		// Every element of the line, the first included when it is empty
		// (",a" is two elements): an empty element is unreadable, as an
		// empty one elsewhere in the line is (FuzzClientIP).
		for {
			j := strings.LastIndexByte(list, ',') // -1: the line's first element
			a, ok := parseForwarded(strings.TrimSpace(list[j+1:]))
			if !ok {
				return client // unreadable: stop at the last hop we could read
			}
			client = a
			if !t.trusts(a) {
				return client
			}
			if j < 0 {
				break
			}
			list = list[:j]
		}
	}
	return client
}

// peerAddr is the address of netip.ParseAddrPort(s), and whether s parses.
// Every request's peer address is read (the upstream client's caller, rate
// limit keys), and a connection's is almost always an IPv4 address and a
// port: that form is read here in one pass, where ParseAddrPort's split,
// address and port parsers cost about 630 instructions a request, a
// hundredth of the gateway's (bench/instr.sh). Anything else, or any doubt
// (a leading zero, a port of more than five digits), is left to
// ParseAddrPort, so that the two agree on every string (FuzzPeerAddr).
func peerAddr(s string) (netip.Addr, bool) {
	var ip [4]byte
	i := 0
	for f := range ip {
		if f > 0 {
			if i >= len(s) || s[i] != '.' {
				return slowPeerAddr(s)
			}
			i++
		}
		v, end := digits(s, i, 3)
		if end == i || v > 255 || s[i] == '0' && end-i > 1 {
			return slowPeerAddr(s)
		}
		ip[f], i = byte(v), end
	}
	if i >= len(s) || s[i] != ':' {
		return slowPeerAddr(s)
	}
	port, end := digits(s, i+1, 5)
	if end == i+1 || end != len(s) || port > 65535 {
		return slowPeerAddr(s)
	}
	return netip.AddrFrom4(ip), true
}

// digits reads at most n decimal digits of s from i, and returns their
// value and where they end.
func digits(s string, i, n int) (v, end int) {
	stop := min(i+n, len(s))
	for end = i; end < stop; end++ {
		d := s[end] - '0' // wraps below '0': one test for both bounds
		if d > 9 {
			break
		}
		v = v*10 + int(d)
	}
	return v, end
}

// slowPeerAddr is peerAddr for the forms it does not read itself.
func slowPeerAddr(s string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(s)
	return ap.Addr(), err == nil
}

func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
