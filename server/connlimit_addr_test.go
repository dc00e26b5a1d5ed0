package server

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

// dialFrom connects to addr from the local address from, and fails the
// test when it cannot.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// served reports whether a GET on c is answered 200.
func served(c net.Conn) bool {
	code, err := getOn(c, bufio.NewReader(c))
	return err == nil && code == http.StatusOK
}

// TestConnLimitPerAddress: one client address holds at most its share of
// the places (PerAddress): its next connection is closed at once while
// other addresses, and the addresses exempt (a load balancer's), are
// served; a place it frees is its own again.
func TestConnLimitPerAddress(t *testing.T) {
	for _, lean := range []bool{true, false} {
		t.Run(map[bool]string{true: "lean", false: "net-http"}[lean], func(t *testing.T) {
			lb := netip.MustParseAddr("127.0.0.3")
			l := NewConnLimit(100, nil).PerAddress(2, func(a netip.Addr) bool { return a == lb })
			addr := limitedServe(t, lean, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			first := dialFrom(t, "127.0.0.1", addr)
			for i, c := range []net.Conn{first, dialFrom(t, "127.0.0.1", addr)} {
				if !served(c) {
					t.Fatalf("connection %d of the address, within its share: not served", i+1)
				}
			}
			if served(dialFrom(t, "127.0.0.1", addr)) {
				t.Fatal("a third connection of the address was served, want it closed")
			}
			if l.Refused() != 1 {
				t.Errorf("%d refusals counted, want 1", l.Refused())
			}
			if !served(dialFrom(t, "127.0.0.2", addr)) {
				t.Fatal("another address was not served")
			}
			for i := range 3 {
				if !served(dialFrom(t, lb.String(), addr)) {
					t.Fatalf("connection %d of an exempt address was not served", i+1)
				}
			}
			first.Close()
			waitOpen(t, l, 5)
			if !served(dialFrom(t, "127.0.0.1", addr)) {
				t.Fatal("the address's freed place was not its own again")
			}
		})
	}
}

// TestAddrKeys: IPv4 addresses count one by one, IPv6 ones by their /64,
// IPv4-mapped ones as IPv4.
func TestAddrKeys(t *testing.T) {
	l := NewConnLimit(10, nil).PerAddress(1, nil)
	key := func(s string) netip.Prefix {
		k, ok := l.addrKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
		if !ok {
			t.Fatalf("%s: no key", s)
		}
		return k
	}
	if key("[2001:db8:1:2::1]:1") != key("[2001:db8:1:2:ffff::9]:2") {
		t.Error("two addresses of one /64 count apart")
	}
	if key("[2001:db8:1:2::1]:1") == key("[2001:db8:1:3::1]:1") {
		t.Error("two /64s count as one")
	}
	if key("[::ffff:192.0.2.1]:1") != key("192.0.2.1:2") {
		t.Error("an IPv4-mapped address counts apart from its IPv4 one")
	}
	if key("192.0.2.1:1") == key("192.0.2.2:1") {
		t.Error("two IPv4 addresses count as one")
	}
}
