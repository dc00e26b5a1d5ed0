package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Backends that answer in ways the upstream-answers family does not try: a
// status line whose code is no HTTP status ("000", which http.ReadResponse
// reads as 0 and the listener servers' WriteHeader panics on), a 101 nobody
// asked for, fields the
// backend's Connection field names, a space before a field's colon, an
// answer without a Content-Type (for which the listener servers would
// sniff one: a user's upload sent untyped and nosniff would become
// text/html), trailers a proxy must not pass on. Each
// case has a service and a route of its own (/audit/<slug>/), on a gateway
// of its own per listener server (the suite's stack builds its routes from
// its own lists), so that its breaker can be read after it.
//
// A 101 Switching Protocols to a request that asked for no upgrade is as
// broken as a status of 000: upstream's unfitAnswer fails both attempts.

// backendAuditCase is a raw backend and the property the gateway must keep
// with it.
type backendAuditCase struct {
	slug   string
	name   string
	answer rawAnswer
	check  func(t *testing.T, s *stack, c backendAuditCase)
}

// answerAlways writes out(id) to every request and keeps the connection open.
func answerAlways(out func(id string) string) rawAnswer {
	return func(c net.Conn, req *http.Request, _ int) bool {
		_, err := io.WriteString(c, out(req.Header.Get("X-Req-Id")))
		return err == nil
	}
}

var backendAuditCases = []backendAuditCase{
	{slug: "status000", name: "status 000 is a bad gateway, blamed on the backend",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 000 OK\r\nContent-Length: 2\r\nX-Req-Id: " + id + "\r\n\r\nok"
		}),
		check: checkBackendBadGateway},
	{slug: "status099", name: "status 099 is a bad gateway, blamed on the backend",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 099 OK\r\nContent-Length: 2\r\nX-Req-Id: " + id + "\r\n\r\nok"
		}),
		check: checkBackendBadGateway},
	{slug: "status-plus", name: "status +99 is a bad gateway, blamed on the backend",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 +99 OK\r\nContent-Length: 2\r\nX-Req-Id: " + id + "\r\n\r\nok"
		}),
		check: checkBackendBadGateway},
	{slug: "unasked-101", name: "101 to a request that asked for no upgrade is a bad gateway, blamed on the backend",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nX-Req-Id: " + id + "\r\n\r\n"
		}),
		check: checkBackendBadGateway},
	{slug: "conn-named-ka", name: "a field the backend's Connection field names is not forwarded",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\nX-Req-Id: " + id + "\r\n\r\nok"
		}),
		check: checkFieldNotForwarded("X-Hop")},
	{slug: "space-colon", name: "a field with a space before its colon is not forwarded as such",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 200 OK\r\nX-Sp : v\r\nContent-Length: 2\r\nX-Req-Id: " + id + "\r\n\r\nok"
		}),
		check: checkFieldNotForwarded("X-Sp ")},
	{slug: "untyped", name: "an untyped answer marked nosniff is not given a sniffed type",
		answer: answerAlways(func(id string) string {
			const page = "<html><script>alert(document.cookie)</script></html>"
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Length: %d\r\nX-Req-Id: %s\r\n\r\n%s",
				len(page), id, page)
		}),
		check: checkFieldNotForwarded("Content-Type")},
	{slug: "trailers", name: "a backend's trailers cross as its fields do: no hop-by-hop, Connection-named or framing trailer",
		answer: answerAlways(func(id string) string {
			return "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nTrailer: X-Sum, Upgrade, X-Hop\r\nTransfer-Encoding: chunked\r\nX-Req-Id: " + id +
				"\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 42\r\nUpgrade: h2c\r\nX-Hop: secret\r\nConnection: close\r\nContent-Length: 99\r\nHost: evil\r\n\r\n"
		}),
		check: checkTrailersFiltered},
}

// checkTrailersFiltered: of the backend's trailers, the client gets X-Sum
// alone; the others would not have crossed as header fields, or may not be
// trailers (RFC 9110, section 6.5.1).
func checkTrailersFiltered(t *testing.T, s *stack, c backendAuditCase) {
	a, err := firstAnswer(t, s.gw, "/audit/"+c.slug+"/x", "A")
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if a.resp.Header.Get("X-Req-Id") != "A" || a.bodyErr != nil || string(a.body) != "ok" {
		t.Fatalf("got %s, body %q (%v): want the backend's answer whole", a, a.body, a.bodyErr)
	}
	if v := a.resp.Trailer.Get("X-Sum"); v != "42" {
		t.Errorf("trailer X-Sum %q, want 42 (trailers %v)", v, a.resp.Trailer)
	}
	for _, k := range []string{"Upgrade", "X-Hop", "Connection", "Content-Length", "Host"} {
		if v := a.resp.Trailer.Values(k); len(v) > 0 {
			t.Errorf("the client got the backend's trailer %s %q", k, v)
		}
	}
}

// checkBackendBadGateway: the client gets the gateway's own 502 problem, and the
// service's breaker counts the fault: the answer was the backend's broken
// one, not a success (nor a 500 from a handler that panicked).
func checkBackendBadGateway(t *testing.T, s *stack, c backendAuditCase) {
	a, err := firstAnswer(t, s.gw, "/audit/"+c.slug+"/x", "A")
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	t.Logf("got %s", a)
	if a.resp.Header.Get("X-Req-Id") != "" || a.status() != http.StatusBadGateway || !a.isProblem() {
		t.Errorf("the client got %d with X-Req-Id %q: want the gateway's 502 problem", a.status(), a.resp.Header.Get("X-Req-Id"))
	}
	if calls, faults := backendBreakerWindow(t, s, "audit-"+c.slug); faults == 0 {
		t.Errorf("the service's breaker counted %d calls and no fault: the backend's broken answer was not blamed on it", calls)
	}
}

// backendBreakerWindow returns the calls and faults in the window of service's
// breaker, from the admin listener's /admin/upstream. (Its breakers carry
// "calls" and "faults"; there is no "consecutive_faults".)
func backendBreakerWindow(t *testing.T, s *stack, service string) (calls, faults int) {
	t.Helper()
	for _, b := range adminUpstream(t, s).Breakers {
		if b.Service == service {
			return b.Calls, b.Faults
		}
	}
	t.Fatalf("no breaker for service %s in /admin/upstream", service)
	return 0, 0
}

// checkFieldNotForwarded: the answer reaches the client without the field.
func checkFieldNotForwarded(field string) func(t *testing.T, s *stack, c backendAuditCase) {
	return func(t *testing.T, s *stack, c backendAuditCase) {
		a, err := firstAnswer(t, s.gw, "/audit/"+c.slug+"/x", "A")
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if a.resp.Header.Get("X-Req-Id") != "A" {
			t.Fatalf("got %s, want the backend's answer", a)
		}
		if v := a.resp.Header.Values(field); len(v) > 0 {
			t.Errorf("the client got %s %q: want the field left out", field, v)
		}
	}
}

// TestAuditBackends runs backendAuditCases against a gateway of their own
// on each listener server, the cases of a server side by side.
func TestAuditBackends(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newBackendAuditStack(t, srv.name, srv.config)
		var cw sync.WaitGroup
		for _, c := range backendAuditCases {
			cw.Go(func() {
				runCase(t, s, hcase{family: "audit-backends", name: c.name, run: func(t *testing.T, s *stack) { c.check(t, s, c) }})
			})
		}
		cw.Wait()
	})
}

// newBackendAuditStack starts a gateway with one service and route per audit case.
func newBackendAuditStack(t *testing.T, name, server string) *stack {
	t.Helper()
	s := &stack{server: name, raw: map[string]*rawBackend{}}
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for _, c := range backendAuditCases {
		rb := newRawBackend(t, c.answer)
		s.raw[c.slug] = rb
		fmt.Fprintf(&b, "    - {service: audit-%s, id: audit-%s-1, address: %q}\n", c.slug, c.slug, rb.addr())
	}
	b.WriteString("defaults:\n  budget: {timeout: 2s, max: 2s, min: 1ms}\nroutes:\n")
	for _, c := range backendAuditCases {
		fmt.Fprintf(&b, "  - {name: audit-%s, method: GET, path: /audit/%s/*, service: audit-%s}\n", c.slug, c.slug, c.slug)
	}
	proc, addrs := startWith(t, b.String())
	s.proc, s.gw, s.admin = proc, addrs[0], addrs[1]
	return s
}
