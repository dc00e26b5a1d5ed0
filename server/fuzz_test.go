package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// FuzzRequest is a differential test: the same request bytes go to
// net/http's server and to this one, each serving echoHandler, and both
// must answer alike: the same sequence of statuses and, for the answers
// the handler gave, the same description of the request it saw. Since both
// servers parse with http.ReadRequest, a difference comes from what the
// server does around it: what it refuses, how it frames and keeps the
// connection (a pipelined request answered by one and not the other), what
// it changes in the request before the handler sees it.
//
// Known and intended differences are normalized (see compareAnswers and
// splitRequests):
//
//   - The servers' own error answers differ in their bodies (net/http
//     writes "400 Bad Request" as text/plain, this server a problem body),
//     so for 4xx and 5xx answers only the status is compared.
//   - This server answers 505 to "PRI * HTTP/2.0" (an HTTP/2 connection
//     preface), where net/http hands it to the handler (for an h2c
//     upgrade of the handler's own) and then closes the connection, or,
//     with header fields, serves it as a request of HTTP/2.0.
//   - For an absolute-form request (GET http://host/ HTTP/1.1), this
//     server takes the host from the target and checks it, ignoring the
//     Host field, as RFC 9112 section 3.2.2 says; net/http requires and
//     checks the Host field. So a request without the field, or with an
//     invalid one, is accepted here and refused by net/http, and one whose
//     target has an invalid host (http://"/) is refused here and accepted
//     by net/http. And an HTTP/1.1 request whose Host field is empty is
//     refused here (there is no host to serve) and accepted by net/http.
//     Inputs with such requests are skipped.
//   - net/http answers "OPTIONS *" itself unless
//     DisableGeneralOptionsHandler is set; the reference server sets it.
//   - net/http looks for the tokens "close" and "keep-alive" of a
//     Connection field, and "100-continue" of an Expect field, in the
//     field's first line, by a lenient search in which a space separates
//     tokens too ("0 keep-alive" has it); this server looks in the
//     comma-separated list (as RFC 9110 section 5.6.1 defines lists) of
//     all the Connection lines, and of the first Expect line. Inputs on
//     which the two readings differ are skipped.
//   - net/http reads a request after the first only once 4 bytes of it
//     came (its serve loop peeks 4 bytes): a client that sends fewer, then
//     half-closes, gets no answer from net/http, and a 400 from this
//     server, which answers whatever it could not parse.
func FuzzRequest(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > 64<<10 {
			t.Skip("too long to be interesting")
		}
		reason, tail := splitRequests(input)
		if reason != "" {
			t.Skip(reason)
		}
		ours, theirs := fuzzAddrs(t)
		rawOurs, errOurs := exchange(ours, input)
		rawTheirs, errTheirs := exchange(theirs, input)
		if errOurs != nil || errTheirs != nil {
			t.Fatalf("input %q\nexchange with this server: %v\nexchange with net/http: %v", input, errOurs, errTheirs)
		}
		a, b := parseAnswers(rawOurs), parseAnswers(rawTheirs)
		if diff := compareAnswers(a, b, len(tail)); diff != "" {
			t.Fatalf("input %q\n%s\nthis server answered:\n%s\n%q\nnet/http answered:\n%s\n%q",
				input, diff, formatAnswers(a), rawOurs, formatAnswers(b), rawTheirs)
		}
	})
}

var fuzzSeeds = []string{
	"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",
	"GET /a/b?c=d&e=%20f#frag HTTP/1.1\r\nHost: example.test:8080\r\nAccept: a\r\naccept: b\r\nX-Empty:\r\nCookie: a=b\r\nCookie: c=d\r\n\r\n",
	"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;ext=1;q=\"v\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n",
	"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /3 HTTP/1.0\r\n\r\n",
	"GET http://example.test/abs?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\tc\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;" + strings.Repeat("e", 20000) + "\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nContent-Length: 4\r\n\r\nbody",
	"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage",
	"GET / HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n",
	"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx\r\nGET /after-crlf HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"\r\nGET /leading-crlf HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\nHost: x\n\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort",
	"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
	"DELETE /x HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\n\r\n",
	// What FuzzRequest found: trailers the request did not declare, a
	// request fragment too short for net/http to read, a target with an
	// invalid host, a keep-alive token net/http finds and we do not.
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Undeclared: u\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n000",
	"GET http://\"/ HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: 0 keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
}

// splitRequests splits the input into the requests http.ReadRequest sees,
// as a server would (but for its leniency with empty lines after a POST),
// and returns what follows the last one it could parse with its body. It
// also reports why the input is outside the test's reach, or "": a request
// on which the servers differ by design.
func splitRequests(input []byte) (skip string, tail []byte) {
	for len(input) > 0 {
		// The header fields as sent (http.ReadRequest removes Host).
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(input)))
		if _, err := tp.ReadLine(); err != nil {
			return "", input
		}
		fields, err := tp.ReadMIMEHeader()
		if err != nil {
			return "", input
		}
		rd := bytes.NewReader(input)
		br := bufio.NewReader(rd)
		req, err := http.ReadRequest(br)
		if err != nil {
			return "", input
		}
		hosts, hasHost := fields["Host"]
		needsHost := req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect
		switch {
		case req.URL.Host != "":
			theirs := (hasHost || !needsHost) && (len(hosts) != 1 || httpguts.ValidHostHeader(hosts[0]))
			if ours := httpguts.ValidHostHeader(req.URL.Host); ours != theirs {
				return "an absolute-form request whose target's host and Host field are judged apart", nil
			}
		case needsHost && hasHost && hosts[0] == "":
			return "an HTTP/1.1 request with an empty Host field", nil
		}
		for _, f := range [...]struct {
			name, token string
			allLines    bool
		}{
			{"Connection", "close", true}, {"Connection", "keep-alive", true}, {"Expect", "100-continue", false},
		} {
			v := fields[f.name]
			first := ""
			if len(v) > 0 {
				first = v[0]
			}
			ours := httpguts.HeaderValuesContainsToken([]string{first}, f.token)
			if f.allLines {
				ours = httpguts.HeaderValuesContainsToken(v, f.token)
			}
			if ours != netHTTPHasToken(first, f.token) {
				return "a " + f.name + " field in which the servers find " + f.token + " apart", nil
			}
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return "", input
		}
		input = input[len(input)-rd.Len()-br.Buffered():]
	}
	return "", nil
}

// netHTTPHasToken is net/http's hasToken: whether v contains token, on
// boundaries of space, tab or comma, ignoring ASCII case.
func netHTTPHasToken(v, token string) bool {
	boundary := func(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !boundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !boundary(v[end]) {
			continue
		}
		if asciiEqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func asciiEqualFold(a, b string) bool {
	lower := func(c byte) byte {
		if 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// echoHandler reads the whole request and answers with a description of
// it: everything a handler sees of a request but RemoteAddr and the
// context. For HEAD, whose answer has no body, the description goes in an
// X-Echo field.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var b strings.Builder
	fmt.Fprintf(&b, "method %q\nrequest-uri %q\nurl %q\nproto %q %d.%d\nhost %q\nlength %d\ntransfer-encoding %q\nclose %v\n",
		r.Method, r.RequestURI, r.URL.String(), r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host, r.ContentLength, r.TransferEncoding, r.Close)
	writeSorted(&b, "header", r.Header)
	fmt.Fprintf(&b, "body %q\nbody-error %v\n", body, err)
	writeSorted(&b, "trailer", r.Trailer)
	w.Header().Set("X-Proto", r.Proto)
	if r.Method == http.MethodHead {
		w.Header().Set("X-Echo", strconv.Quote(b.String()))
		w.Header().Set("Content-Length", "0")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, b.String())
}

func writeSorted(b *strings.Builder, what string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s %q %q\n", what, k, h[k])
	}
}

// The two servers, started once per fuzzing process.
var fuzzServers struct {
	once         sync.Once
	ours, theirs string
	err          error
}

func fuzzAddrs(t *testing.T) (ours, theirs string) {
	fuzzServers.once.Do(func() {
		quiet := log.New(io.Discard, "", 0)
		lnOurs, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fuzzServers.err = err
			return
		}
		lnTheirs, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			lnOurs.Close()
			fuzzServers.err = err
			return
		}
		s := &Server{Handler: http.HandlerFunc(echoHandler), ErrorLog: quiet}
		hs := &http.Server{Handler: http.HandlerFunc(echoHandler), ErrorLog: quiet, DisableGeneralOptionsHandler: true}
		go s.Serve(lnOurs)
		go hs.Serve(lnTheirs)
		fuzzServers.ours, fuzzServers.theirs = lnOurs.Addr().String(), lnTheirs.Addr().String()
	})
	if fuzzServers.err != nil {
		t.Fatal(fuzzServers.err)
	}
	return fuzzServers.ours, fuzzServers.theirs
}

// exchange sends input on a new connection, half-closes it, and returns
// all the server sent back until it closed the connection. A reset after
// the server's answers is no error: a server may close without reading all.
func exchange(addr string, input []byte) ([]byte, error) {
	nc, err := dialSpread(addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	c := nc.(*net.TCPConn)
	c.SetDeadline(time.Now().Add(waitLimit))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if _, err := c.Write(input); err == nil {
			c.CloseWrite()
		}
	}()
	out, err := io.ReadAll(c)
	<-wrote
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return out, fmt.Errorf("the server did not close the connection within %v: %w", waitLimit, err)
	}
	return out, nil
}

// dialSpread dials addr from a random address of 127.0.0.0/8 on Linux,
// where they all are the loopback's. The client's end of each connection
// stays in TIME_WAIT for a minute (the client half-closes first), and at
// thousands of connections a second the ephemeral ports of one address run
// out: connecting then spins in the kernel, looking for a free port, and
// starves other programs that connect from 127.0.0.1.
func dialSpread(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: waitLimit}
	if runtime.GOOS == "linux" {
		ip := net.IPv4(127, byte(1+rand.IntN(254)), byte(rand.IntN(256)), byte(1+rand.IntN(254)))
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d.Dial("tcp", addr)
}

// answer is one answer of a server, as the comparison sees it.
type answer struct {
	status int    // 0: bytes that are no answer
	proto  string // the request's protocol, as the handler saw it
	desc   string // the handler's description, or what went wrong
}

func parseAnswers(raw []byte) []answer {
	var out []answer
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return append(out, answer{desc: "unparsable: " + err.Error()})
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return append(out, answer{status: resp.StatusCode, desc: "body unreadable: " + err.Error()})
		}
		a := answer{status: resp.StatusCode, proto: resp.Header.Get("X-Proto"), desc: string(body)}
		if e := resp.Header.Get("X-Echo"); e != "" {
			if a.desc, err = strconv.Unquote(e); err != nil {
				a.desc = "X-Echo unquotable: " + err.Error()
			}
		}
		out = append(out, a)
	}
}

// compareAnswers describes the first difference between the answers of
// this server (ours) and net/http's (theirs) that is not a known one, or
// returns "". tail is the length of the input after its last whole
// request.
func compareAnswers(ours, theirs []answer, tail int) string {
	for i := 0; i < len(ours) || i < len(theirs); i++ {
		if i == len(theirs) && i == len(ours)-1 && i > 0 && ours[i].status == http.StatusBadRequest && tail < 4 {
			return "" // net/http waits for 4 bytes of a request after the first
		}
		if i >= len(ours) || i >= len(theirs) {
			return fmt.Sprintf("this server gave %d answers, net/http %d", len(ours), len(theirs))
		}
		a, b := ours[i], theirs[i]
		if a.status == http.StatusHTTPVersionNotSupported && b.proto != "" && !strings.HasPrefix(b.proto, "HTTP/1.") {
			// The HTTP/2 preface (or another request of HTTP/2.0 that
			// net/http serves): we stop there.
			return ""
		}
		if a.status != b.status {
			return fmt.Sprintf("answer %d: status %d here, %d from net/http", i, a.status, b.status)
		}
		if a.status >= 400 && a.proto == "" && b.proto == "" {
			continue // the servers' own error answers: bodies differ
		}
		if a.proto != b.proto || a.desc != b.desc {
			return fmt.Sprintf("answer %d: the handlers saw different requests", i)
		}
	}
	return ""
}

func formatAnswers(as []answer) string {
	var b strings.Builder
	for i, a := range as {
		fmt.Fprintf(&b, "  [%d] %d (%s)\n", i, a.status, a.proto)
		for _, line := range strings.Split(strings.TrimSuffix(a.desc, "\n"), "\n") {
			fmt.Fprintf(&b, "      %s\n", line)
		}
	}
	return b.String()
}
