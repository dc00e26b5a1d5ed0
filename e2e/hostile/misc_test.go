package hostile

import (
	"net/http"
	"testing"
)

func miscCases() []hcase {
	const fam = "edge-semantics"
	subject := func(id, name string, fields ...string) hcase {
		return hcase{family: fam, name: name, run: func(t *testing.T, s *stack) {
			a, x := get(t, s.gw, "/open/"+id+"/x", fields...)
			if !a.fromBackend() {
				t.Fatalf("not forwarded: %s", x)
			}
			for _, rec := range s.echo.matching("/open/" + id + "/") {
				if v := rec.Header.Values("X-Sluice-Subject"); len(v) > 0 {
					t.Errorf("a client-sent claim header reached the backend on a route without auth: X-Sluice-Subject %q", v)
				}
			}
		}}
	}
	return []hcase{
		{family: fam, name: "HEAD on a GET route is answered like GET, not 405", run: func(t *testing.T, s *stack) {
			x := sendMethod(t, s.gw, "HEAD /head/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", http.MethodHead)
			if len(x.answers) != 1 || !x.closed() {
				t.Fatalf("want one answer and a close: %s", x)
			}
			if a := x.answers[0]; a.status() != http.StatusOK || !a.fromBackend() {
				t.Errorf("HEAD answered %s, want 200 from the backend", a)
			}
		}},
		subject("subject1", "client-sent X-Sluice-Subject is stripped on a route without auth", "X-Sluice-Subject: admin"),
		subject("subject2", "client-sent x-sluice-subject in lower case is stripped", "x-sluice-subject: admin"),
		subject("subject3", "two client-sent X-Sluice-Subject fields are stripped", "X-Sluice-Subject: admin", "X-Sluice-Subject: root"),
		{family: fam, name: "an unsupported HTTP version gets a 505 problem and a close", run: func(t *testing.T, s *stack) {
			x := send(t, s.gw, "GET /head/x HTTP/3.0\r\nHost: h\r\n\r\n")
			wantGatewayProblem(t, x, http.StatusHTTPVersionNotSupported)
		}},
		{family: fam, name: "a garbage request line gets a 400 problem and a close", run: func(t *testing.T, s *stack) {
			x := send(t, s.gw, "GARBAGE\r\nHost: h\r\n\r\n")
			wantGatewayProblem(t, x, http.StatusBadRequest)
		}},
	}
}

// wantGatewayProblem checks that the gateway alone answered with status as
// a problem body, then closed.
func wantGatewayProblem(t *testing.T, x exchange, status int) {
	t.Helper()
	if len(x.answers) != 1 || !x.closed() {
		t.Fatalf("want one answer and a close: %s", x)
	}
	a := x.answers[0]
	if a.status() != status || a.fromBackend() {
		t.Errorf("answered %s, want %d from the gateway", a, status)
	}
	if !a.isProblem() {
		t.Errorf("answered with Content-Type %q, want application/problem+json", a.resp.Header.Get("Content-Type"))
	}
}
