package middleware

import (
	"fmt"
	"net/netip"
)

// Networks is a set of IP networks, written as CIDR prefixes or single
// addresses: the trusted proxies, and the clients a route allows
// (AllowFrom). The zero value holds none.
type Networks struct {
	prefixes []netip.Prefix
}

// ParseNetworks parses CIDR prefixes ("10.0.0.0/8") or single addresses
// ("192.0.2.7", taken as /32 or /128). An IPv4-mapped prefix
// (::ffff:10.0.0.0/104) means its IPv4 one: the addresses compared with it
// are unmapped.
func ParseNetworks(cidrs []string) (*Networks, error) {
	n := &Networks{}
	for i, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("[%d]: %q is neither a CIDR prefix nor an IP address", i, c)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		n.prefixes = append(n.prefixes, p.Masked())
	}
	return n, nil
}

// Contains reports whether a, unmapped and without its zone, is in one of
// the networks. A zoned address (fe80::1%eth0, a link-local peer) is judged
// without its zone: netip.Prefix.Contains says no to any zone.
func (n *Networks) Contains(a netip.Addr) bool {
	if n == nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range n.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
