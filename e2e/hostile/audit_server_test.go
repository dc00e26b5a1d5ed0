package hostile

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cases of the listener servers' own framing that the families above do
// not try: a body the gateway answers without reading, followed by another
// request on the connection; and Expect: 100-continue, with the body asked
// for and without. Each keeps the property that the client and the gateway
// agree on where every request ends: no byte of a body is ever read as a
// request, and a client waiting for "100 Continue" is either asked for its
// body or told, by a close, that it will not be. They run on the suite's
// stack (routes /open/<id>/ on the echo backend; /nowhere/ matches no
// route, and the gateway answers it 404 without reading the body), on a
// gateway of their own per listener server.

// serverAuditCases are the cases, in the suite's format.
func serverAuditCases() []hcase {
	const fam = "server-framing"
	return []hcase{
		{family: fam, name: "an unread body under 256 KiB is drained, never read as requests, and the next request is served", run: func(t *testing.T, s *stack) {
			auditUnreadBody(t, s, "as1", 10<<10)
		}},
		{family: fam, name: "an unread body of 256 KiB is never read as requests", run: func(t *testing.T, s *stack) {
			auditUnreadBody(t, s, "as2", 256<<10)
		}},
		{family: fam, name: "Expect: 100-continue: asked for the body, then the next request is served", run: auditExpectAsked},
		{family: fam, name: "Expect: 100-continue to no route: refused without 100 Continue; a body sent anyway carries no request", run: auditExpectRefused},
	}
}

// TestAuditServer runs serverAuditCases against a gateway on each listener
// server.
func TestAuditServer(t *testing.T) {
	cases := serverAuditCases()
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newStack(t, srv.name, srv.config)
		var cw sync.WaitGroup
		for _, c := range cases {
			cw.Go(func() { runCase(t, s, c) })
		}
		cw.Wait()
	})
}

// auditHiddenIn returns at least n bytes of whole requests for /open/<id>/SMUGGLED:
// a body that must never reach the backend as requests.
func auditHiddenIn(id string, n int) string {
	h := "GET /open/" + id + "/SMUGGLED HTTP/1.1\r\nHost: h\r\n\r\n"
	return strings.Repeat(h, n/len(h)+1)[:n]
}

// auditUnreadBody sends, to no route, a POST whose body of n bytes is made of
// requests, then a GET of /open/<id>/second with Connection: close. The
// gateway answers the POST 404 without reading its body; then it serves
// the GET, or closes (a body too large to read past).
func auditUnreadBody(t *testing.T, s *stack, id string, n int) {
	body := auditHiddenIn(id, n)
	x := send(t, s.gw, "POST /nowhere/"+id+" HTTP/1.1\r\nHost: h\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body+
		"GET /open/"+id+"/second HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if !x.closed() {
		t.Fatalf("no end within %v (a hang): %v", hangLimit, x)
	}
	if got := s.echo.matching("/open/" + id + "/SMUGGLED"); len(got) > 0 {
		t.Fatalf("bytes of the body reached the backend as %d requests of their own", len(got))
	}
	if len(x.answers) == 0 || x.answers[0].status() != http.StatusNotFound || x.answers[0].fromBackend() {
		t.Fatalf("want the gateway's 404 first: %v", x)
	}
	switch {
	case len(x.answers) == 1:
		if n < 256<<10 {
			t.Errorf("closed after the 404, want the body drained and the next request served: %v", x)
		}
	case len(x.answers) == 2 && x.answers[1].resp.Header.Get("X-Seen") == "/open/"+id+"/second":
	default:
		t.Errorf("want the 404, then the backend's answer to /open/%s/second or a close: %v", id, x)
	}
}

// auditExpectAsked sends a POST with Expect: 100-continue to the echo backend,
// and its body only once asked: the gateway forwards it whole, and serves
// the request after it.
func auditExpectAsked(t *testing.T, s *stack) {
	c := dial(t, s.gw)
	_ = c.SetDeadline(time.Now().Add(hangLimit))
	if _, err := io.WriteString(c, "POST /open/as3/first HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue before the body: %v %v", resp, err)
	}
	if _, err := io.WriteString(c, "helloGET /open/as3/second HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var x exchange
	for _, path := range []string{"/open/as3/first", "/open/as3/second"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to %s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		x.answers = append(x.answers, answer{resp: resp, body: b, bodyErr: err})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Seen") != path || err != nil {
			t.Fatalf("want the backend's answer to %s: %v", path, x)
		}
	}
	if got := s.echo.complete("/open/as3/first"); len(got) != 1 || got[0].Body != "hello" {
		t.Errorf("the backend got %d complete requests for /open/as3/first, want 1 with body \"hello\": %+v", len(got), got)
	}
}

// auditExpectRefused sends a POST with Expect: 100-continue to no route: the
// gateway answers 404 without asking for the body and says it closes. A
// client that sends the body anyway (RFC 9110, section 10.1.1, lets it),
// with a request behind it, gets no answer more: the connection ends
// (this server closes at once, net/http's once it read the body), and the
// request never reaches the backend.
func auditExpectRefused(t *testing.T, s *stack) {
	c := dial(t, s.gw)
	_ = c.SetDeadline(time.Now().Add(hangLimit))
	if _, err := io.WriteString(c, "POST /nowhere/as4 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	a := answer{resp: resp, body: body, bodyErr: err}
	if a.status() != http.StatusNotFound || a.fromBackend() || !a.isProblem() || err != nil {
		t.Fatalf("answered %s, want the gateway's 404 problem (and no 100 Continue)", a)
	}
	if !resp.Close {
		t.Errorf("the 404 does not say Connection: close, though the body it did not ask for may still come")
	}
	// Written aside, as send does: the gateway may have closed already.
	go func() { _, _ = io.WriteString(c, "hello"+"GET /open/as4/SMUGGLED HTTP/1.1\r\nHost: h\r\n\r\n") }()
	x := readAll(c, http.MethodGet)
	if len(x.answers) > 0 || !x.closed() {
		t.Errorf("after the 404, want the connection's end and nothing else: %v", x)
	}
	if got := s.echo.matching("/open/as4/SMUGGLED"); len(got) > 0 {
		t.Errorf("a request sent after the body reached the backend")
	}
}
