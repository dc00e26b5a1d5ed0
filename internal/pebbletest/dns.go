package pebbletest

import (
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// serveDNS answers, on a port of 127.0.0.1 over both UDP and TCP (Pebble
// asks over TCP), every A question with 127.0.0.1 and every other
// question with no record, until the test ends. It returns the address.
func serveDNS(t testing.TB) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	ln, pc := listenBoth(t)
	for _, srv := range []*dns.Server{{Listener: ln, Handler: handler}, {PacketConn: pc, Handler: handler}} {
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
