package hostile

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
	// forged sends identity fields a backend might believe: none may reach
	// it, in any spelling, and X-Forwarded-For is the gateway's alone (no
	// trusted_proxies here).
	forged := func(id, name string, fields ...string) hcase {
		return hcase{family: fam, name: name, run: func(t *testing.T, s *stack) {
			a, x := get(t, s.gw, "/open/"+id+"/x", fields...)
			if !a.fromBackend() {
				t.Fatalf("not forwarded: %s", x)
			}
			for _, rec := range s.echo.matching("/open/" + id + "/") {
				for field, v := range rec.Header {
					norm := strings.ToLower(strings.ReplaceAll(field, "_", "-"))
					switch {
					case norm == "x-forwarded-for":
						if len(v) != 1 || v[0] != "127.0.0.1" {
							t.Errorf("the backend got X-Forwarded-For %q, want the gateway's peer alone", v)
						}
					case norm == "x-forwarded-host" || norm == "x-forwarded-proto":
						if len(v) != 1 || v[0] == "evil.example" || v[0] == "https" {
							t.Errorf("the backend got the client's %s %q", field, v)
						}
					case strings.HasPrefix(norm, "x-forwarded") || norm == "forwarded" || norm == "x-real-ip" ||
						norm == "true-client-ip" || norm == "x-original-url" || norm == "x-sluice-subject":
						t.Errorf("a client-sent %s reached the backend: %q", field, v)
					}
				}
			}
		}}
	}
	return []hcase{
		forged("forged1", "client-sent X-Forwarded-For, -Host, -Proto are replaced by the gateway's",
			"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https"),
		forged("forged2", "client-sent Forwarded, X-Real-Ip, True-Client-Ip, X-Forwarded-Prefix are removed",
			"Forwarded: for=6.6.6.6", "X-Real-Ip: 6.6.6.6", "True-Client-Ip: 6.6.6.6", "X-Forwarded-Prefix: /admin"),
		forged("forged3", "identity fields spelled with '_' or in odd case are removed",
			"X_Forwarded_For: 6.6.6.6", "x_real_ip: 6.6.6.6", "X_SLUICE_SUBJECT: admin", "x-ORIGINAL-url: /admin"),
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
		{family: fam, name: "on a route with CORS, a backend that allows any origin with credentials is overruled", run: func(t *testing.T, s *stack) {
			for _, c := range []struct{ origin, allow string }{
				{"https://evil.example", ""},                           // refused by the route: no field
				{"https://app.example.com", "https://app.example.com"}, // allowed, without credentials
			} {
				a, x := get(t, s.gw, "/cors/x", "Origin: "+c.origin)
				if a.status() != http.StatusOK || !a.fromBackend() {
					t.Fatalf("Origin %s: answered %s, want 200 from the backend: %s", c.origin, a, x)
				}
				h := a.resp.Header
				if v := h.Values("Access-Control-Allow-Origin"); len(v) > 1 || h.Get("Access-Control-Allow-Origin") != c.allow ||
					(c.allow == "" && v != nil) {
					t.Errorf("Origin %s: Access-Control-Allow-Origin %q, want the route's %q", c.origin, v, c.allow)
				}
				if v := h.Values("Access-Control-Allow-Credentials"); len(v) > 0 {
					t.Errorf("Origin %s: Access-Control-Allow-Credentials %q, which the route does not allow", c.origin, v)
				}
			}
		}},
		{family: fam, name: "on a route with CORS, two Origin fields are refused, not each echoed as allowed", run: func(t *testing.T, s *stack) {
			a, x := get(t, s.gw, "/cors/x", "Origin: https://app.example.com", "Origin: https://evil.example")
			if a.status() != http.StatusBadRequest || !a.isProblem() || a.fromBackend() {
				t.Errorf("answered %s, want the gateway's 400: %s", a, x)
			}
			if v := a.resp.Header.Values("Access-Control-Allow-Origin"); v != nil {
				t.Errorf("Access-Control-Allow-Origin %q", v)
			}
		}},
		{family: fam, name: "an RPC body of 90,000 members with 8,000 query parameters is merged, not compared pairwise", run: rpcMergeWithinBudget},
		{family: fam, name: "an RPC body of 768 KiB of '<&>' and U+2028 reaches the backend as sent, not six times larger", run: rpcBodyAsSent},
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

// rpcMergeWithinBudget: an RPC route's request within every limit, a body
// of 90,000 members (under 1 MiB) and a query of 8,000 parameters (under
// 64 KiB), reaches the backend merged, well within the default budget of
// 5s. Comparing every member with every parameter for the names a JSON
// decoder folds together (router/rpcfold.go) took 12.8 s of a core: the
// budget ran out and the client got a 504, and a few such requests a
// second took the gateway's cores.
func rpcMergeWithinBudget(t *testing.T, s *stack) {
	const members, params = 90000, 8000
	var body, query strings.Builder
	body.WriteString("{")
	for i := range members {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `"m%d":0`, i)
	}
	body.WriteString("}")
	for i := range params {
		fmt.Fprintf(&query, "q%d=&", i)
	}
	x := send(t, s.gw, fmt.Sprintf("POST /rpc-merge/7?%s HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		query.String(), body.Len(), body.String()))
	if len(x.answers) != 1 || x.answers[0].status() != http.StatusOK || !x.answers[0].fromBackend() {
		t.Fatalf("want the backend's 200: %s", x)
	}
	got := s.echo.complete("/rpc/Merge.Big")
	if len(got) != 1 {
		t.Fatalf("the backend got %d merged requests, want 1", len(got))
	}
	var merged map[string]any
	if err := json.Unmarshal([]byte(got[0].Body), &merged); err != nil {
		t.Fatal(err)
	}
	if len(merged) != members+params+1 || merged["id"] != "7" || merged["q0"] != "" || merged["m0"] != 0.0 {
		t.Errorf("the backend got %d members (id %v, q0 %v, m0 %v), want %d", len(merged), merged["id"], merged["q0"], merged["m0"], members+params+1)
	}
}

// rpcBodyAsSent: an RPC route re-encodes the body's members; encoding/json
// escaped '<', '>' and '&' (six bytes each) and U+2028/U+2029 for HTML, so
// that a body within the route's 1 MiB bound went out at up to six times
// its size, past the bound, and not as the client wrote it.
func rpcBodyAsSent(t *testing.T, s *stack) {
	body := `{"v":"` + strings.Repeat("<&>\u2028", 128<<10) + `"}`
	x := send(t, s.gw, fmt.Sprintf("POST /rpc-plain HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		len(body), body))
	if len(x.answers) != 1 || x.answers[0].status() != http.StatusOK || !x.answers[0].fromBackend() {
		t.Fatalf("want the backend's 200: %s", x)
	}
	got := s.echo.complete("/rpc/Plain.Echo")
	if len(got) != 1 {
		t.Fatalf("the backend got %d requests, want 1", len(got))
	}
	if got[0].Body != body {
		t.Errorf("the backend got a body of %d bytes for the client's %d: %.60q", len(got[0].Body), len(body), got[0].Body)
	}
}
