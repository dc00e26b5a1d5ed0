package router_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The proxy's transparency, fuzzed: whatever well-formed answer a backend
// sends, the client receives its status, each of its end-to-end fields
// with its values in their order, its body byte for byte and its trailers,
// and nothing the backend did not send but what an intermediary adds for
// the hop (the framing, a Date the backend left out, the trailers'
// announcement). Hop-by-hop fields, those the backend's Connection field
// names, and trailers that may not be trailers are the only ones left out.
// Two bugs of that kind were found by hand before this target existed: a
// Content-Type sniffed for an untyped answer, and trailers the listener
// servers filtered differently. The answer is checked through the
// gateway's own parts (upstream's h1 transport, package server) and
// through net/http's server, over HTTP/1.1 and h2c.
//
// What the backend "sent" is what http.ReadResponse reads of its bytes:
// a field's name in canonical form, a value without its surrounding
// spaces. An answer ReadResponse refuses is not a test of transparency,
// and is skipped (FuzzResponse and FuzzParseResponse hold h1's reading to
// ReadResponse's).

// answerSpec is one backend answer, built from the fuzzer's input.
type answerSpec struct {
	status   int
	fields   [][2]string
	body     []byte
	framing  int // 0: Content-Length, 1: chunked, 2: delimited by the close
	trailers [][2]string
	declare  bool // a Trailer field names the trailers
	head     bool // the request is a HEAD: the answer has its header alone
}

// specFrom builds an answer from the fuzzer's input: fields and trailers
// are "name: value" lines, each kept when its name is a token and its value
// a field value; framing fields are the spec's own, never the input's.
func specFrom(status uint16, fields string, body []byte, mode uint8, trailers string) answerSpec {
	s := answerSpec{status: 200 + int(status)%400, body: body, framing: int(mode % 3), declare: mode&4 != 0, head: mode&8 != 0}
	skip := func(k string) bool {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Trailer":
			return true // the framing is the spec's
		}
		return false
	}
	s.fields = fieldLines(fields, 24, skip)
	if s.framing == 1 {
		s.trailers = fieldLines(trailers, 8, skip)
	}
	return s
}

// bytes returns the answer as the backend writes it.
func (s answerSpec) bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", s.status, http.StatusText(s.status))
	writeFields(&b, s.fields)
	switch {
	case s.head && s.framing == 1:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	case s.framing == 0:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(s.body))
	case s.framing == 1:
		writeChunked(&b, s.body, s.trailers, s.declare)
	case s.framing == 2:
		b.WriteString("Connection: close\r\n\r\n")
	}
	if !s.head && s.framing != 1 {
		b.Write(s.body)
	}
	return b.Bytes()
}

// method is the method of the request the answer is to.
func (s answerSpec) method() string {
	if s.head {
		return http.MethodHead
	}
	return http.MethodGet
}

// rawAnswerer is a backend node that answers every request with the
// answer set last, and closes the connection after an answer delimited by
// the close.
type rawAnswerer struct {
	ln     net.Listener
	answer atomic.Pointer[answerSpec]
	wg     sync.WaitGroup
}

func newRawAnswerer(tb testing.TB) *rawAnswerer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := &rawAnswerer{ln: ln}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.serve(c)
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close(); a.wg.Wait() })
	return a
}

func (a *rawAnswerer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(waitLimit))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		s := a.answer.Load()
		if _, err := c.Write(s.bytes()); err != nil || s.framing == 2 || req.Close {
			return
		}
	}
}

// expectedAnswer is what the client must receive of an answer.
type expectedAnswer struct {
	status  int
	header  http.Header // the end-to-end fields
	body    []byte
	trailer http.Header // the trailers that cross
	length  int64       // a HEAD's: the length its GET would have, or -1
}

// expect reads the answer's bytes as ReadResponse does and keeps what
// crosses a proxy (proxyRule); ok is false when ReadResponse refuses them.
func (s answerSpec) expect() (e expectedAnswer, ok bool) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(s.bytes())), &http.Request{Method: s.method()})
	if err != nil {
		return e, false
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return e, false
	}
	rule := newProxyRule(s.fields)
	e = expectedAnswer{status: resp.StatusCode, header: http.Header{}, body: body, length: -1}
	if s.head && s.framing == 0 && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		e.length = resp.ContentLength
	}
	for k, vv := range resp.Header {
		if rule.crosses(k) && k != "Content-Length" {
			e.header[k] = vv
		}
	}
	e.trailer = rule.trailers(resp.Trailer)
	return e, true
}

// check compares what the client got with e.
func (e expectedAnswer) check(resp *http.Response, body []byte) error {
	var problems []string
	if resp.StatusCode != e.status {
		problems = append(problems, fmt.Sprintf("status %d, want %d", resp.StatusCode, e.status))
	}
	want := e.header
	if _, ok := resp.Header["Content-Type"]; !ok && e.status == http.StatusNotModified {
		// net/http's HTTP/1 server sends no Content-Type on a 304, and
		// package server follows it; its HTTP/2 server sends the handler's.
		want = want.Clone()
		delete(want, "Content-Type")
	}
	problems = compareSent(problems, body, e.body, resp.Header, want)
	if e.length >= 0 && resp.ContentLength != e.length {
		problems = append(problems, fmt.Sprintf("a HEAD's Content-Length %d, want the backend's %d", resp.ContentLength, e.length))
	}
	for k, got := range resp.Header {
		if _, sent := e.header[k]; sent {
			continue
		}
		switch k {
		case "Date", "Content-Length": // added for the hop
		case "Trailer": // the trailers' announcement
		case "Connection": // the close the gateway may announce
		default:
			problems = append(problems, fmt.Sprintf("field %s %q, which the backend did not send", k, got))
		}
	}
	problems = compareTrailers(problems, resp.Trailer, e.trailer)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func FuzzProxiedAnswer(f *testing.F) {
	f.Add(uint16(0), "Content-Type: text/plain\nX-A: 1\nX-A: 2", []byte("hello"), uint8(0), "")
	f.Add(uint16(0), "X-Content-Type-Options: nosniff", []byte("<html><script>x</script>"), uint8(0), "")
	f.Add(uint16(0), "content-type: application/json\nconnection: keep-alive, X-Hop\nX-Hop: s\nx-b: v",
		[]byte(`{"a":1}`), uint8(1), "X-Sum: 42")
	hostile := "X-Sum: 42\nUpgrade: h2c\nX-Hop: s\nHost: evil\nContent-Type: a/b"
	f.Add(uint16(0), "Connection: X-Hop", []byte("body"), uint8(4), hostile) // declared
	f.Add(uint16(0), "Connection: X-Hop", []byte("body"), uint8(1), hostile) // undeclared
	f.Add(uint16(0), "Date: Mon, 07 Dec 2026 00:00:00 GMT\nCache-Control: no-store\nPragma: no-cache", []byte{}, uint8(2), "")
	f.Add(uint16(4), "Content-Type: text/html\nX-A: 1", []byte("ignored"), uint8(0), "")         // 204
	f.Add(uint16(104), "ETag: \"x\"", []byte{}, uint8(0), "")                                    // 304
	f.Add(uint16(104), "ETag: \"x\"\nContent-Type: text/plain", []byte("ignored"), uint8(0), "") // 304 with the representation's length
	f.Add(uint16(300), "Retry-After: 1\nVary: Accept\nVary: Origin", []byte("down"), uint8(1), "")
	f.Add(uint16(1), "Content-Encoding: gzip\nX-Obs: caf\xe9", []byte("not gzip"), uint8(0), "")
	f.Add(uint16(0), "Keep-Alive: timeout=5\nProxy-Authenticate: Basic\nTe: trailers\nUpgrade: x", []byte("x"), uint8(0), "")
	f.Add(uint16(104), "Content-Type: text/event-stream", []byte{}, uint8(0), "")                // a 304 of a stream
	f.Add(uint16(0), "Content-Type: text/plain", []byte("the GET's body"), uint8(8), "")         // HEAD
	f.Add(uint16(0), "Content-Type: text/plain", []byte("the GET's body"), uint8(9), "X-Sum: 1") // HEAD, chunked

	node := newRawAnswerer(f)
	rt := newTransparentRouter(f, node.ln.Addr().String(), "GET")
	edges := newProxyEdges(f, rt)
	f.Fuzz(func(t *testing.T, status uint16, fields string, body []byte, mode uint8, trailers string) {
		s := specFrom(status, fields, body, mode, trailers)
		want, ok := s.expect()
		if !ok {
			t.Skip("an answer ReadResponse refuses")
		}
		node.answer.Store(&s)
		for _, e := range edges {
			req, err := http.NewRequest(s.method(), e.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", e.name, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s: reading the body: %v", e.name, err)
			}
			if err := want.check(resp, got); err != nil {
				t.Errorf("%s, backend answer %q:\n%v", e.name, s.bytes(), err)
			}
		}
	})
}
