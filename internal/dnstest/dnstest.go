// Package dnstest runs a DNS server on loopback for tests: a real server
// (github.com/miekg/dns) on one port of 127.0.0.1 over both UDP and TCP,
// answering as the test's handler says, so that what asks it (Go's
// resolver, Pebble) speaks the protocol as it would to any server.
package dnstest

import (
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// Serve answers with h on a port of 127.0.0.1, over UDP and TCP, until the
// test ends, and returns the address.
func Serve(t testing.TB, h dns.Handler) string {
	t.Helper()
	ln, pc := listenBoth(t)
	for _, srv := range []*dns.Server{{Listener: ln, Handler: h}, {PacketConn: pc, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return ln.Addr().String()
}

// listenBoth binds a TCP and a UDP socket on the same port of 127.0.0.1.
func listenBoth(t testing.TB) (net.Listener, net.PacketConn) {
	t.Helper()
	var last error
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err == nil {
			return ln, pc
		}
		ln.Close()
		last = err
	}
	t.Fatal(fmt.Errorf("no port free for both TCP and UDP: %w", last))
	return nil, nil
}
