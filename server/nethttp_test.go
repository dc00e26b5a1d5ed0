package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestNetHTTPProblems proves that net/http's server, prepared with
// NetHTTP, answers its own errors with problem bodies of the same status,
// and that handlers' answers, even those that look like its errors, pass
// untouched.
func TestNetHTTPProblems(t *testing.T) {
	ran := make(chan string, 16)
	addr := startNetHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran <- r.URL.Path
		io.WriteString(w, "ok")
	}), limits{maxHeaderBytes: 1 << 10}, true)
	tests := []struct {
		name, req string
		status    int
	}{
		{"garbage", "GARBAGE\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400},
		{"name with a space", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400},
		{"oversized header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"gzip transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(tt.req)
			rc.c.CloseWrite()
			checkProblem(t, rc, rc.read("GET"), tt.status)
		})
	}
	// After an answer on the same connection, too.
	rc := dialRaw(t, addr)
	rc.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n")
	rc.read("GET").checkOK(t, "ok")
	checkProblem(t, rc, rc.read("GET"), 400)
	if got := wait(t, ran, "the handler"); got != "/first" {
		t.Fatalf("the handler ran for %q", got)
	}
}

// TestNetHTTPHandlerAnswersUntouched proves that what handlers write on a
// connection prepared with NetHTTP reaches the client byte for byte, even
// an answer whose bytes are those of one of net/http's own errors.
func TestNetHTTPHandlerAnswersUntouched(t *testing.T) {
	mimic := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mimic":
			// net/http writes exactly its own 400's bytes for this: no
			// Date, no length (identity coding), "Connection: close" for
			// a client that asked for it.
			w.Header()["Date"] = nil
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Transfer-Encoding", "identity")
			w.WriteHeader(400)
			io.WriteString(w, "400 Bad Request")
		case "/text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(431)
			io.WriteString(w, "431 Request Header Fields Too Large")
		}
	})
	addr := startNetHTTP(t, h, limits{}, true)
	rc := dialRaw(t, addr)
	rc.send("GET /mimic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	got, _ := io.ReadAll(rc.br)
	if string(got) != mimic {
		t.Errorf("the handler's answer became\n%q\nwant\n%q", got, mimic)
	}
	rc = dialRaw(t, addr)
	rc.send("GET /text HTTP/1.1\r\nHost: x\r\n\r\n")
	r := rc.read("GET")
	if r.status != 431 || r.header.Get("Content-Type") != "text/plain; charset=utf-8" || string(r.body) != "431 Request Header Fields Too Large" {
		t.Errorf("the handler's answer became %d %q %q", r.status, r.lines, r.body)
	}
}

// TestNetHTTPClosesAfterHTTP10Bodies proves that on a listener prepared
// with NetHTTP an HTTP/1.0 request with a body closes its connection even
// when it asked for keep-alive: net/http frames one that also carries
// Transfer-Encoding by its Content-Length and hides the field, so the
// request a proxy in front read as chunked could hide another.
func TestNetHTTPClosesAfterHTTP10Bodies(t *testing.T) {
	var seen pathLog
	addr := startNetHTTP(t, http.HandlerFunc(seen.handler), limits{}, true)
	rc := dialRaw(t, addr)
	rc.send("POST /first HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" +
		"GET /smuggled HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	rc.read("POST")
	rc.expectClosed()
	if seen.served("/smuggled") {
		t.Fatal("the request in the body was served")
	}
	rc = dialRaw(t, addr)
	rc.send("GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	rc.read("GET").checkOK(t, "ok")
	rc.read("GET").checkOK(t, "ok")
}
