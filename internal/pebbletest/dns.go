package pebbletest

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/sluicehq/sluice/internal/dnstest"
)

// serveDNS answers, on a port of 127.0.0.1 over both UDP and TCP (Pebble
// asks over TCP), every A question with 127.0.0.1 and every other
// question with no record, until the test ends. It returns the address.
func serveDNS(t testing.TB) string {
	t.Helper()
	return dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
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
	}))
}
