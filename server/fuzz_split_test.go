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

// splitRequests splits the input into the requests http.ReadRequest sees,
// as a server would (but for its leniency with empty lines after a POST).
// It reports why the input is outside the test's reach, or "": a request
// on which the servers differ by design, or whose outcome depends on the
// timing of reads (nearLimit). And it reports where this server ends the
// connection by design and net/http does not: cut.
func splitRequests(input []byte) (skip string, cut cutAt) {
	cut.index = -1
	for i := 0; len(input) > 0; i++ {
		// The header fields as sent (http.ReadRequest removes Host and
		// the framing fields).
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(input)))
		if _, err := tp.ReadLine(); err != nil {
			return nearLimit(i, -1, pulledOnError(input)), cut
		}
		fields, err := tp.ReadMIMEHeader()
		if err != nil {
			return nearLimit(i, -1, pulledOnError(input)), cut
		}
		// A small buffer, so that what the reader pulled tells where the
		// header ended or where the error was found.
		cr := &countingReader{r: bytes.NewReader(input)}
		br := bufio.NewReaderSize(cr, 16)
		req, err := http.ReadRequest(br)
		if err != nil {
			return nearLimit(i, -1, cr.n), cut
		}
		if reason := nearLimit(i, cr.n-br.Buffered(), 0); reason != "" {
			return reason, cut
		}
		hosts, hasHost := fields["Host"]
		needsHost := req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect
		switch {
		case req.URL.Host != "":
			theirs := (hasHost || !needsHost) && (len(hosts) != 1 || httpguts.ValidHostHeader(hosts[0]))
			if ours := httpguts.ValidHostHeader(req.URL.Host); ours != theirs {
				return "an absolute-form request whose target's host and Host field are judged apart", cut
			}
		case needsHost && hasHost && hosts[0] == "":
			return "an HTTP/1.1 request with an empty Host field", cut
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
				return "a " + f.name + " field in which the servers find " + f.token + " apart", cut
			}
		}
		_, hasCL := fields["Content-Length"]
		_, hasTE := fields["Transfer-Encoding"]
		is10 := req.ProtoMajor == 1 && req.ProtoMinor == 0
		if req.ProtoMajor == 1 && hasCL && (hasTE && (is10 || len(req.TransferEncoding) > 0)) {
			// A conflict http.ReadRequest let through (on HTTP/1.1, it
			// refuses a Transfer-Encoding other than chunked itself). On
			// another major version, both servers answer 505 first.
			return "", cutAt{index: i, refused: true}
		}
		if hasTE && is10 {
			return "", cutAt{index: i}
		}
		// The body is read again as the servers read it, through a buffer
		// of their size: where a chunked body's trailer ends (whether
		// http.ReadRequest's body finds the empty line ending it) depends
		// on how far the buffer lets it look ahead.
		sr := &countingReader{r: bytes.NewReader(input)}
		sbr := bufio.NewReaderSize(sr, 4096)
		if req, err = http.ReadRequest(sbr); err != nil {
			return "", cut
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return "", cut
		}
		input = input[sr.n-sbr.Buffered():]
		if req.Method == http.MethodPost {
			// Both servers skip up to four line breaks after a POST
			// (RFC 9112, section 2.2), before the next request.
			n := 0
			for n < 4 && n < len(input) && (input[n] == '\r' || input[n] == '\n') {
				n++
			}
			input = input[n:]
		}
	}
	return "", cut
}

// cutAt is the request after which this server closes the connection and
// net/http goes on (index, or -1), and whether this server refuses it.
type cutAt struct {
	index   int
	refused bool
}

// nearLimit tells whether request i's outcome depends on how much the
// servers' reads brought: header is its header's length when it parses (or
// -1), pulled how far a reader had to read to find its error. A first
// request is read with the limit counting from its first byte: a header of
// up to fuzzLimit bytes is read, a longer one refused (whatever the reads
// brought: they stop at the limit), and an error found
// within the last 4 KiB before the limit may be reported either way (the
// buffered reader may have read up to the limit behind it). A later
// request's first bytes, up to 4096 of them, are read before the limit
// counts, so the outcome is certain only away from the limit by that much.
func nearLimit(i int, header, pulled int) string {
	const why = "a request near the header limit, where the timing of the servers' reads decides"
	slack := 0
	if i > 0 {
		slack = 4096
	}
	if header >= 0 {
		if i > 0 && header > fuzzLimit-16 && header <= fuzzLimit+slack {
			return why
		}
		return ""
	}
	if pulled > fuzzLimit-4096-32 && pulled <= fuzzLimit+slack {
		return why
	}
	return ""
}

// pulledOnError is how many bytes http.ReadRequest reads of input, through
// a reader of a 16-byte buffer, before it fails.
func pulledOnError(input []byte) int {
	cr := &countingReader{r: bytes.NewReader(input)}
	http.ReadRequest(bufio.NewReaderSize(cr, 16))
	return cr.n
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
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
		fuzzServers.ours, fuzzServers.theirs, fuzzServers.err = servePair(
			&Server{Handler: http.HandlerFunc(echoHandler), ErrorLog: quiet, MaxHeaderBytes: fuzzMaxHeaderBytes},
			&http.Server{Handler: http.HandlerFunc(echoHandler), ErrorLog: quiet, DisableGeneralOptionsHandler: true,
				MaxHeaderBytes: fuzzMaxHeaderBytes})
	})
	if fuzzServers.err != nil {
		t.Fatal(fuzzServers.err)
	}
	return fuzzServers.ours, fuzzServers.theirs
}

// servePair has s and hs serve on listeners of their own on loopback, for
// the rest of the process, and returns their addresses.
func servePair(s *Server, hs *http.Server) (ours, theirs string, err error) {
	lnOurs, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	lnTheirs, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		lnOurs.Close()
		return "", "", err
	}
	go s.Serve(lnOurs)
	go hs.Serve(lnTheirs)
	return lnOurs.Addr().String(), lnTheirs.Addr().String(), nil
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
// returns "". cut is where this server ends the connection by design.
func compareAnswers(ours, theirs []answer, cut cutAt) string {
	for i := 0; i < len(ours) || i < len(theirs); i++ {
		if cut.index >= 0 && i >= cut.index {
			switch {
			case len(ours) > cut.index+1:
				return fmt.Sprintf("this server answered %d requests, past request %d after which it must close", len(ours), cut.index)
			case i == len(ours):
				return fmt.Sprintf("this server did not answer request %d", i)
			case cut.refused:
				if ours[i].status != http.StatusBadRequest {
					return fmt.Sprintf("answer %d: status %d here, want 400 for conflicting framing", i, ours[i].status)
				}
				return ""
			}
			// Served and closed: compared as any answer.
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
		if cut.index == i {
			return ""
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
