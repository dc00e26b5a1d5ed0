package hostile

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The audit's cases: what a client at the edge can make the gateway do
// with a route's policies by spelling its request otherwise (an escaped
// letter in the path, a Connection option naming a header the gateway
// sets, a method override), and what a failure tells it of the network
// behind the edge. They need routes the suite's stack has not (a catch-all
// next to a route behind auth, a service with no node listening), so they
// run on a gateway of their own, on each listener server.

const edgeAuditSecret = "a secret of the audit's gateway, 32+ bytes long"

// edgeAuditRoutes: /admin/* behind auth next to the catch-all /* that takes
// whatever no other route does; /acct/* behind auth, forwarding the
// token's sub as X-Sluice-Subject; /items/* open to GET alone; /down/* to
// a service whose node refuses connections.
const edgeAuditRoutes = `
routes:
  - {name: any, method: GET, path: /*, service: echo}
  - {name: admin, method: GET, path: /admin/*, service: echo, auth: users}
  - {name: acct, method: "*", path: /acct/*, service: echo, auth: users}
  - {name: items, method: GET, path: /items/*, service: echo}
  - {name: down, method: GET, path: /down/*, service: down}
`

// edgeAuditStack is one gateway for the audit's cases, with its echo backend
// and the address of the node that refuses connections.
type edgeAuditStack struct {
	gw   string
	echo *echoBackend
	down string
}

func newEdgeAuditStack(t *testing.T, server string) *edgeAuditStack {
	t.Helper()
	s := &edgeAuditStack{echo: newEchoBackend(t), down: edgeRefusingAddr(t)}
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: echo, id: echo-1, address: %q}\n"+
		"    - {service: down, id: down-1, address: %q}\n", s.echo.Listener.Addr().String(), s.down)
	usersYAML(t, &b, edgeAuditSecret)
	b.WriteString("defaults:\n  budget: {timeout: 5s, max: 10s, min: 1ms}\n")
	b.WriteString(edgeAuditRoutes)
	_, addrs := startWith(t, b.String())
	s.gw = addrs[0]
	return s
}

// edgeRefusingAddr returns a loopback address nothing listens on.
func edgeRefusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// edgeAuditToken returns a token of the audit's provider for subject sub.
func edgeAuditToken(t *testing.T, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString([]byte(edgeAuditSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// edgeAuditCase is one case of the audit, run on each listener server.
type edgeAuditCase struct {
	name string
	run  func(t *testing.T, s *edgeAuditStack)
}

func edgeAuditCases() []edgeAuditCase {
	// escaped sends a path that no route matches as written, which the
	// catch-all takes, and that every backend decodes to a path under
	// /admin/*: it must not reach the backend without /admin/*'s auth.
	escaped := func(id, target string) edgeAuditCase {
		return edgeAuditCase{name: "an escaped letter does not lead around auth: " + target, run: func(t *testing.T, s *edgeAuditStack) {
			a, x := get(t, s.gw, strings.ReplaceAll(target, "{id}", id))
			t.Logf("%s", x)
			for _, rec := range s.echo.matching(id) {
				t.Errorf("the backend got %q on a route without auth", rec.RequestURI)
			}
			if a.fromBackend() || a.status() < 400 || a.status() >= 500 || !a.isProblem() {
				t.Errorf("answered %s, want a 4xx problem from the gateway", a)
			}
		}}
	}
	return []edgeAuditCase{
		escaped("audit-esc1", "/%61dmin/{id}"),
		escaped("audit-esc2", "/a%64min/{id}"),
		escaped("audit-esc3", "/%61%64%6D%69%6E/{id}?x=1"),
		{name: "a Connection option naming a claim header does not drop the verified subject", run: func(t *testing.T, s *edgeAuditStack) {
			const id = "audit-conn1"
			a, x := get(t, s.gw, "/acct/"+id, "Authorization: Bearer "+edgeAuditToken(t, "alice"),
				"Connection: X-Sluice-Subject", "X-Sluice-Subject: mallory")
			if !a.fromBackend() || a.status() != http.StatusOK {
				t.Fatalf("not forwarded: %s", x)
			}
			for _, rec := range s.echo.matching(id) {
				if v := rec.Header.Values("X-Sluice-Subject"); len(v) != 1 || v[0] != "alice" {
					t.Errorf("the backend got X-Sluice-Subject %q, want the verified subject alone", v)
				}
			}
		}},
		{name: "a verified subject with whitespace around it does not reach the backend as another user", run: func(t *testing.T, s *edgeAuditStack) {
			// A recipient strips the whitespace around a field's value: a
			// subject " admin", which an identity provider may let a user
			// choose, was read by the backend as "admin".
			for i, sub := range []string{" admin", "admin ", "\tadmin"} {
				id := fmt.Sprintf("audit-ws%d", i)
				a, x := get(t, s.gw, "/acct/"+id, "Authorization: Bearer "+edgeAuditToken(t, sub))
				if !a.fromBackend() || a.status() != http.StatusOK {
					t.Fatalf("not forwarded: %s", x)
				}
				for _, rec := range s.echo.matching(id) {
					if v := rec.Header.Values("X-Sluice-Subject"); len(v) != 0 {
						t.Errorf("subject %q: the backend got X-Sluice-Subject %q, want none: it reads another user", sub, v)
					}
				}
			}
		}},
		{name: "a client's trailers named as identity fields do not reach the backend", run: func(t *testing.T, s *edgeAuditStack) {
			const id = "audit-trailer1"
			x := send(t, s.gw, "POST /acct/"+id+" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+edgeAuditToken(t, "alice")+
				"\r\nTrailer: X-Sluice-Subject, X-Forwarded-For, X-Checksum\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
				"3\r\nabc\r\n0\r\nX-Sluice-Subject: admin\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nX-Checksum: kept\r\n\r\n")
			if len(x.answers) != 1 || !x.answers[0].fromBackend() {
				t.Fatalf("not forwarded: %s", x)
			}
			for _, rec := range s.echo.matching(id) {
				for _, f := range []string{"X-Sluice-Subject", "X-Forwarded-For", "X-Real-Ip"} {
					if v := rec.Trailer.Values(f); len(v) > 0 {
						t.Errorf("the backend got the client's trailer %s %q", f, v)
					}
				}
				if v := rec.Header.Values("X-Sluice-Subject"); len(v) != 1 || v[0] != "alice" {
					t.Errorf("the backend got X-Sluice-Subject %q, want the verified subject alone", v)
				}
			}
		}},
		{name: "a client's trailers that could not be header fields of the forward do not reach the backend", run: func(t *testing.T, s *edgeAuditStack) {
			// The route checked the bearer token and forwards no Authorization:
			// a backend that merges trailers into the header would take
			// these for the request's credentials, Host and type.
			const id = "audit-trailer2"
			hostile := []string{"Authorization", "Host", "Content-Type", "Upgrade", "X-Hop"}
			x := send(t, s.gw, "POST /acct/"+id+" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "+edgeAuditToken(t, "alice")+
				"\r\nTrailer: X-Checksum, "+strings.Join(hostile, ", ")+"\r\nTransfer-Encoding: chunked\r\nConnection: close, X-Hop\r\n\r\n"+
				"3\r\nabc\r\n0\r\nX-Checksum: kept\r\nAuthorization: Bearer forged\r\nHost: evil\r\nContent-Type: text/evil\r\nUpgrade: h2c\r\nX-Hop: s\r\n\r\n")
			if len(x.answers) != 1 || !x.answers[0].fromBackend() {
				t.Fatalf("not forwarded: %s", x)
			}
			recs := s.echo.matching(id)
			if len(recs) == 0 {
				t.Fatal("the backend got no request")
			}
			for _, rec := range recs {
				if v := rec.Trailer.Get("X-Checksum"); v != "kept" {
					t.Errorf("the backend got trailer X-Checksum %q, want kept", v)
				}
				for _, f := range hostile {
					if v := rec.Trailer.Values(f); len(v) > 0 {
						t.Errorf("the backend got the client's trailer %s %q", f, v)
					}
				}
			}
		}},
		{name: "a request without a User-Agent reaches the backend without one, not with Go's", run: func(t *testing.T, s *edgeAuditStack) {
			const id = "audit-ua1"
			a, x := get(t, s.gw, "/items/"+id)
			if !a.fromBackend() || a.status() != http.StatusOK {
				t.Fatalf("not forwarded: %s", x)
			}
			recs := s.echo.matching(id)
			if len(recs) == 0 {
				t.Fatal("the backend got no request")
			}
			for _, rec := range recs {
				if v := rec.Header.Values("User-Agent"); len(v) > 0 {
					t.Errorf("the backend got User-Agent %q, which the client did not send", v)
				}
			}
			_, x = get(t, s.gw, "/items/"+id+"-2", "User-Agent: curl/8.0")
			for _, rec := range s.echo.matching(id + "-2") {
				if v := rec.Header.Values("User-Agent"); len(v) != 1 || v[0] != "curl/8.0" {
					t.Errorf("the backend got User-Agent %q, want the client's (%s)", v, x)
				}
			}
		}},
		{name: "a method override does not reach the backend of a GET route", run: func(t *testing.T, s *edgeAuditStack) {
			const id = "audit-override1"
			a, x := get(t, s.gw, "/items/"+id, "X-HTTP-Method-Override: DELETE", "X-Http-Method: DELETE",
				"X-Method-Override: DELETE", "X_HTTP_METHOD_OVERRIDE: DELETE")
			if !a.fromBackend() {
				t.Fatalf("not forwarded: %s", x)
			}
			for _, rec := range s.echo.matching(id) {
				for field, v := range rec.Header {
					if strings.Contains(strings.ToLower(strings.ReplaceAll(field, "_", "-")), "method") {
						t.Errorf("the backend got %s %q on a route that allows GET alone", field, v)
					}
				}
			}
		}},
		{name: "a 502 tells the client no node address and no transport error", run: func(t *testing.T, s *edgeAuditStack) {
			a, x := get(t, s.gw, "/down/audit-down1")
			if a.status() != http.StatusBadGateway || !a.isProblem() {
				t.Fatalf("want a 502 problem: %s", x)
			}
			for _, leak := range []string{s.down, "127.0.0.1", "dial", "connection refused", "upstream:"} {
				if strings.Contains(string(a.body), leak) {
					t.Errorf("the answer tells the client %q: %s", leak, a.body)
				}
			}
		}},
	}
}

// TestAuditEdgeGateway runs the audit's cases against a gateway of their own on
// each listener server, side by side, the cases concurrently.
func TestAuditEdgeGateway(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newEdgeAuditStack(t, srv.config)
		var cw sync.WaitGroup
		for _, c := range edgeAuditCases() {
			cw.Go(func() {
				t.Run(c.name, func(t *testing.T) {
					defer func() { tally.add(srv.name, "edge-audit", c.name, t.Failed()) }()
					c.run(t, s)
				})
			})
		}
		cw.Wait()
	})
}
