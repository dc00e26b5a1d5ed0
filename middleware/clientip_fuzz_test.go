package middleware

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// fuzzTrustSets are the trusted networks FuzzClientIP picks from: none,
// the networks of TestClientIP, everyone, and an IPv4-mapped prefix with
// the link-local one (whose peers come zoned).
var fuzzTrustSets = [][]string{
	nil,
	{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"},
	{"0.0.0.0/0", "::/0"},
	{"::ffff:10.0.0.0/104", "fe80::/10"},
}

// refTrusts is TrustedProxies.trusts restated with net.IPNet instead of
// netip.Prefix. A zoned address is judged by its address alone: the zone
// names the interface, not the host's network.
func refTrusts(cidrs []string, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	for _, c := range cidrs {
		if !strings.Contains(c, "/") {
			if strings.Contains(c, ":") {
				c += "/128"
			} else {
				c += "/32"
			}
		}
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err)
		}
		if ones, bits := n.Mask.Size(); bits == 8*net.IPv6len && ones >= 96 && n.IP.To4() != nil {
			// An IPv4-mapped prefix stands for the IPv4 one.
			n = &net.IPNet{IP: n.IP.To4(), Mask: net.CIDRMask(ones-96, 8*net.IPv4len)}
		}
		// net.IPNet takes an IPv4 address and its IPv4-mapped form for
		// the same; the addresses here are unmapped, so only a prefix of
		// the address's own family may match.
		if (len(n.IP) == net.IPv4len) == a.Is4() && n.Contains(net.IP(a.AsSlice())) {
			return true
		}
	}
	return false
}

// refHop reads one X-Forwarded-For element: an address, or an address and
// port, in netip's syntax (the grammar is the standard library's; what the
// reference restates is the walk, where gateways go wrong).
func refHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// refClientIP is the plain statement of ClientIP: every element of every
// X-Forwarded-For line, left to right (an empty line holds none: net/http
// keeps it as a value of its own; an empty element inside a line is
// unreadable, which stops the walk as any unreadable element does, though
// RFC 9110 §5.6.1 would skip it: no trusted proxy writes one, and stopping
// early only ever settles on an address a trusted proxy vouched for). From
// the peer leftwards, each address is believed only when the hop to its
// right, which wrote it, is trusted.
func refClientIP(cidrs []string, remote string, xff []string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	client := ap.Addr().Unmap()
	var hops []string
	for _, line := range xff {
		if line != "" {
			hops = append(hops, strings.Split(line, ",")...)
		}
	}
	for i := len(hops) - 1; i >= 0 && refTrusts(cidrs, client); i-- {
		a, ok := refHop(hops[i])
		if !ok {
			break
		}
		client = a
	}
	return client
}

// FuzzClientIP: for any peer address and any X-Forwarded-For lines (split
// from xff at '\n') and Forwarded field, ClientIP never panics and returns
// what refClientIP does; the result is the zero Addr exactly when the
// peer's address is unreadable, and otherwise an address written in the
// input (the peer's or one element's); an untrusted peer is the client
// whatever the headers say, and the Forwarded field (which the gateway does
// not read, and IdentityHeaders removes) changes nothing. At the edge,
// X-Forwarded-For is the client's to write: a client address taken from an
// element that no trusted proxy vouched for lets any client choose the
// rate-limit bucket it draws from.
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct {
		set              uint8
		remote, xff, fwd string
	}{
		{0, "10.0.0.1:5", "203.0.113.9", ""},
		{1, "198.51.100.1:5", "203.0.113.9", "for=6.6.6.6"},
		{1, "10.0.0.1:5", "203.0.113.9", `for="[2001:db8::7]:4711"`},
		{1, "10.0.0.1:5", "203.0.113.9, 10.1.1.1\n192.0.2.7", ""},
		{1, "10.0.0.1:5", "1.1.1.1, 203.0.113.9", ""},
		{1, "10.0.0.1:5", "203.0.113.9, garbage, 10.0.0.3", ""},
		{1, "10.0.0.1:5", "203.0.113.9,,10.0.0.3", ""},
		{1, "10.0.0.1:5", "6.6.6.6\n\n10.0.0.3", ""},
		{1, "[2001:db8::1]:5", "[2001:db9::5]:443", ""},
		{1, "[::ffff:10.0.0.1]:5", "::ffff:10.9.9.9, ::ffff:6.6.6.6", ""},
		{1, "10.0.0.1:5", "2001:db8::1%eth0, 10.0.0.2", ""},
		{1, "[2001:db8::1%eth0]:5", "6.6.6.6", ""},
		{2, "10.0.0.1:5", " 6.6.6.6 ,\t7.7.7.7:80 ", "for=unknown"},
		{2, "127.0.0.1:5", "unknown, 8.8.8.8", ""},
		{1, "@", "6.6.6.6", ""},
		{1, "", "", ""},
	} {
		f.Add(s.set, s.remote, s.xff, s.fwd)
	}
	f.Fuzz(func(t *testing.T, set uint8, remote, xff, fwd string) {
		cidrs := fuzzTrustSets[int(set)%len(fuzzTrustSets)]
		var proxies *TrustedProxies
		if cidrs != nil {
			var err error
			if proxies, err = ParseTrustedProxies(cidrs); err != nil {
				t.Fatal(err)
			}
		}
		var lines []string
		if xff != "" {
			lines = strings.Split(xff, "\n")
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header = http.Header{"Forwarded": {fwd}, "X-Forwarded-For": lines}
		got := proxies.ClientIP(r)
		if want := refClientIP(cidrs, remote, lines); got != want {
			t.Fatalf("ClientIP = %v, reference %v (trusting %q)", got, want, cidrs)
		}

		peer, err := netip.ParseAddrPort(remote)
		if err != nil {
			if got.IsValid() {
				t.Fatalf("unreadable peer %q, ClientIP %v", remote, got)
			}
			return
		}
		if !got.IsValid() || got.Is4In6() {
			t.Fatalf("ClientIP = %v for peer %q", got, remote)
		}
		if !refTrusts(cidrs, peer.Addr().Unmap()) && got != peer.Addr().Unmap() {
			t.Fatalf("untrusted peer %q, ClientIP %v from its headers", remote, got)
		}
		found := got == peer.Addr().Unmap()
		for _, line := range lines {
			for _, e := range strings.Split(line, ",") {
				a, ok := parseForwarded(strings.TrimSpace(e))
				if ra, rok := refHop(e); ok != rok || a != ra {
					t.Fatalf("parseForwarded(%q) = %v, %v; reference %v, %v", e, a, ok, ra, rok)
				}
				if ok && (!a.IsValid() || a.Is4In6()) {
					t.Fatalf("parseForwarded(%q) = %v", e, a)
				}
				found = found || ok && a == got
			}
		}
		if !found {
			t.Fatalf("ClientIP = %v, found neither in the peer %q nor in X-Forwarded-For %q", got, remote, lines)
		}
	})
}

// FuzzPeerAddr holds peerAddr to netip.ParseAddrPort on every string: the
// same address, and the same verdict.
func FuzzPeerAddr(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8080", "0.0.0.0:0", "255.255.255.255:65535", "1.2.3.4:65536",
		"1.2.3.4:00080", "1.2.3.4:000080", "01.2.3.4:1", "1.2.3.4:", "1.2.3.4",
		"256.1.1.1:1", "1.2.3:4", "1.2.3.4.5:6", "1.2.3.4:+1", "1.2.3.4:1 ",
		"[::1]:80", "[::ffff:1.2.3.4]:80", "[fe80::1%eth0]:80", "1.2.3.4%e:1",
		"", ":", ":80", "1..3.4:5", "1.2.3.4:-1", "1.2.3.4::1", "१.2.3.4:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := peerAddr(s)
		ap, err := netip.ParseAddrPort(s)
		if ok != (err == nil) || a != ap.Addr() {
			t.Fatalf("peerAddr(%q) = %v, %v; ParseAddrPort: %v, %v", s, a, ok, ap.Addr(), err)
		}
	})
}
