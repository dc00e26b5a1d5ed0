// Package proxytest holds a proxy to transparency, for the fuzz tests of
// the packages that proxy (router, and cmd/gateway's whole handler chain):
// whatever well-formed answer a backend sends, the client receives its
// status, each of its end-to-end fields with its values in their order,
// its body byte for byte and the trailers that may cross, and nothing the
// backend did not send but what an intermediary adds for the hop (the
// framing, a Date the backend left out, the trailers' announcement); and
// whatever well-formed request a client sends, over HTTP/1.1 or HTTP/2,
// the backend receives the same of it. Hop-by-hop fields, those a Connection field names, and
// trailers that may not be trailers (RFC 9110, section 6.5.1) are the only
// ones left out.
//
// A backend's answer is an Answer, built from a fuzzer's input, written by
// a Node, and judged by Expected.Check against what http.ReadResponse
// reads of its bytes: a field's name in canonical form, a value without
// its surrounding spaces. The handler under test is served by Edges:
// package server, and net/http's server over HTTP/1.1 and h2c, whose
// differences from one another are part of what the checks find. A
// client's request is a Request, written as HTTP/1.1 bytes (judged against
// what http.ReadRequest reads of them) or as HTTP/2 frames (judged against
// what net/http's HTTP/2 server hands a handler of them: H2Reference).
package proxytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/servertest"
)

// waitLimit bounds every read and write of a Node and every exchange of
// an Edge's client: generous, for a loaded machine.
const waitLimit = 10 * time.Second

// FieldLines returns the "name: value" lines of lines whose name is a
// token and value a field value, at most max of them, less those whose
// canonical name skip reports.
func FieldLines(lines string, max int, skip func(canonical string) bool) [][2]string {
	var out [][2]string
	for line := range strings.SplitSeq(lines, "\n") {
		name, value, ok := strings.Cut(line, ":")
		value = strings.Trim(value, " \t")
		if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) ||
			strings.ContainsAny(value, "\r\n") || len(out) == max || skip(http.CanonicalHeaderKey(name)) {
			continue
		}
		out = append(out, [2]string{name, value})
	}
	return out
}

// WriteFields writes fields as field lines.
func WriteFields(b *bytes.Buffer, fields [][2]string) {
	for _, f := range fields {
		fmt.Fprintf(b, "%s: %s\r\n", f[0], f[1])
	}
}

// WriteChunked ends a header with chunked framing, declaring the trailers
// when declare is set, and writes body in one chunk and the trailers.
func WriteChunked(b *bytes.Buffer, body []byte, trailers [][2]string, declare bool) {
	if declare && len(trailers) > 0 {
		names := make([]string, len(trailers))
		for i, t := range trailers {
			names[i] = t[0]
		}
		fmt.Fprintf(b, "Trailer: %s\r\n", strings.Join(names, ", "))
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	if len(body) > 0 {
		fmt.Fprintf(b, "%x\r\n%s\r\n", len(body), body)
	}
	b.WriteString("0\r\n")
	WriteFields(b, trailers)
	b.WriteString("\r\n")
}

// Rule tells which fields of a message cross a proxy: not hop-by-hop
// ones, nor those its Connection fields name. The names are read from the
// fields as sent: ReadResponse deletes a Connection field that says
// "close", with whatever else it names.
type Rule struct{ named []string }

// NewRule returns the rule of a message of fields.
func NewRule(fields [][2]string) Rule {
	var r Rule
	for _, f := range fields {
		if http.CanonicalHeaderKey(f[0]) != "Connection" {
			continue
		}
		for n := range strings.SplitSeq(f[1], ",") {
			if n = strings.TrimSpace(n); n != "" {
				r.named = append(r.named, http.CanonicalHeaderKey(n))
			}
		}
	}
	return r
}

// Crosses reports whether the field k crosses.
func (r Rule) Crosses(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return false
	}
	return !slices.Contains(r.named, k)
}

// Trailers returns the trailers of t that cross: as fields, and as
// trailers (RFC 9110, section 6.5.1), with a value.
func (r Rule) Trailers(t http.Header) http.Header {
	out := http.Header{}
	for k, vv := range t {
		if r.Crosses(k) && httpguts.ValidTrailerHeader(k) && len(vv) > 0 {
			out[k] = vv
		}
	}
	return out
}

// CompareSent appends to problems how the body and fields received (got)
// differ from those sent that must cross (want): the body byte for byte,
// each field with its values in their order.
func CompareSent(problems []string, gotBody, wantBody []byte, got, want http.Header) []string {
	if !bytes.Equal(gotBody, wantBody) {
		problems = append(problems, fmt.Sprintf("body %q, want %q", gotBody, wantBody))
	}
	for k, w := range want {
		if g := got[k]; !slices.Equal(g, w) {
			problems = append(problems, fmt.Sprintf("field %s %q, want %q", k, g, w))
		}
	}
	return problems
}

// CompareTrailers appends to problems how got differs from want.
func CompareTrailers(problems []string, got, want http.Header) []string {
	for k, w := range want {
		if g := got[k]; !slices.Equal(g, w) {
			problems = append(problems, fmt.Sprintf("trailer %s %q, want %q", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && len(g) > 0 {
			problems = append(problems, fmt.Sprintf("trailer %s %q, which should not cross", k, g))
		}
	}
	return problems
}

// Answer is one backend answer, built from a fuzzer's input (AnswerFrom).
type Answer struct {
	Status   int
	Fields   [][2]string
	Body     []byte
	Framing  int // 0: Content-Length, 1: chunked, 2: delimited by the close
	Trailers [][2]string
	Declare  bool // a Trailer field names the trailers
	Head     bool // the request is a HEAD: the answer has its header alone
}

// AnswerFrom builds an answer from a fuzzer's input: a status from 200 to
// 599; fields and trailers as "name: value" lines, each kept when its name
// is a token and its value a field value (FieldLines), framing fields
// never (the answer's are its own); mode's bits choose the framing (mode
// % 3), declared trailers (4) and a HEAD request (8).
func AnswerFrom(status uint16, fields string, body []byte, mode uint8, trailers string) Answer {
	a := Answer{Status: 200 + int(status)%400, Body: body, Framing: int(mode % 3), Declare: mode&4 != 0, Head: mode&8 != 0}
	skip := func(k string) bool {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Trailer":
			return true
		}
		return false
	}
	a.Fields = FieldLines(fields, 24, skip)
	if a.Framing == 1 {
		a.Trailers = FieldLines(trailers, 8, skip)
	}
	return a
}

// AddSeeds adds to f the answers that found the bugs this package was
// made for, and a few of every kind: untyped, Connection-named fields,
// trailers declared or not, 204 and 304 with lengths, HEAD.
func AddSeeds(f *testing.F) {
	f.Add(uint16(0), "Content-Type: text/plain\nX-A: 1\nX-A: 2", []byte("hello"), uint8(0), "")
	f.Add(uint16(0), "X-Content-Type-Options: nosniff", []byte("<html><script>x</script>"), uint8(0), "")
	f.Add(uint16(0), "content-type: application/json\nconnection: keep-alive, X-Hop\nX-Hop: s\nx-b: v",
		[]byte(`{"a":1}`), uint8(1), "X-Sum: 42")
	hostile := "X-Sum: 42\nUpgrade: h2c\nX-Hop: s\nHost: evil\nContent-Type: a/b"
	f.Add(uint16(0), "Connection: X-Hop", []byte("body"), uint8(4), hostile) // declared
	f.Add(uint16(0), "Connection: X-Hop", []byte("body"), uint8(1), hostile) // undeclared
	f.Add(uint16(0), "Date: Mon, 07 Dec 2026 00:00:00 GMT\nCache-Control: no-store\nPragma: no-cache", []byte{}, uint8(2), "")
	f.Add(uint16(4), "Content-Type: text/html\nX-A: 1", []byte("ignored"), uint8(0), "")           // 204 with a length
	f.Add(uint16(104), "ETag: \"x\"", []byte{}, uint8(0), "")                                      // 304
	f.Add(uint16(104), "ETag: \"x\"\nContent-Type: text/plain", []byte("ignored"), uint8(0), "")   // 304 with the representation's length
	f.Add(uint16(4), "", []byte("0"), uint8(4), "X-Sum: 1")                                        // 204 declaring a trailer
	f.Add(uint16(300), "Retry-After: 1\nVary: Accept\nVary: Origin", []byte("down"), uint8(1), "") // 500, chunked
	f.Add(uint16(1), "Content-Encoding: gzip\nX-Obs: caf\xe9", []byte("not gzip"), uint8(0), "")   // 201
	f.Add(uint16(0), "Keep-Alive: timeout=5\nProxy-Authenticate: Basic\nTe: trailers\nUpgrade: x", []byte("x"), uint8(0), "")
	f.Add(uint16(104), "Content-Type: text/event-stream", []byte{}, uint8(0), "")                // a 304 of a stream
	f.Add(uint16(104), "", []byte("0"), uint8(13), "")                                           // a 304 to a HEAD, chunked
	f.Add(uint16(0), "Content-Type: text/plain", []byte("the GET's body"), uint8(8), "")         // HEAD
	f.Add(uint16(0), "Content-Type: text/plain", []byte("the GET's body"), uint8(9), "X-Sum: 1") // HEAD, chunked
	f.Add(uint16(0), "0: \nConneCtion: 0\nConnection: close", []byte("0"), uint8(2), "")         // a named field, and close
}

// Bytes returns the answer as the backend writes it.
func (a Answer) Bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", a.Status, http.StatusText(a.Status))
	WriteFields(&b, a.Fields)
	switch {
	case a.Head && a.Framing == 1:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	case a.Framing == 0:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(a.Body))
	case a.Framing == 1:
		WriteChunked(&b, a.Body, a.Trailers, a.Declare)
	case a.Framing == 2:
		b.WriteString("Connection: close\r\n\r\n")
	}
	if !a.Head && a.Framing != 1 {
		b.Write(a.Body)
	}
	return b.Bytes()
}

// Method is the method of the request the answer is to.
func (a Answer) Method() string {
	if a.Head {
		return http.MethodHead
	}
	return http.MethodGet
}

// Expected is what the client must receive of an answer.
type Expected struct {
	Status  int
	Header  http.Header // the end-to-end fields
	Body    []byte
	Trailer http.Header // the trailers that cross
	Length  int64       // a HEAD's: the length its GET would have, or -1
}

// Expect reads the answer's bytes as ReadResponse does and keeps what
// crosses a proxy (Rule); ok is false when ReadResponse refuses them, and
// the answer tests nothing of a proxy's transparency.
func (a Answer) Expect() (e Expected, ok bool) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(a.Bytes())), &http.Request{Method: a.Method()})
	if err != nil {
		return e, false
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return e, false
	}
	rule := NewRule(a.Fields)
	e = Expected{Status: resp.StatusCode, Header: http.Header{}, Body: body, Length: -1}
	if a.Head && a.Framing == 0 && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		e.Length = resp.ContentLength
	}
	for k, vv := range resp.Header {
		if rule.Crosses(k) && k != "Content-Length" {
			e.Header[k] = vv
		}
	}
	e.Trailer = rule.Trailers(resp.Trailer)
	return e, true
}

// Check compares what the client got, resp and its body, with e. added,
// when not nil, reports the fields the proxy under test adds of its own
// (a request id), which the client may get besides the backend's.
func (e Expected) Check(resp *http.Response, body []byte, added func(k string) bool) error {
	var problems []string
	if resp.StatusCode != e.Status {
		problems = append(problems, fmt.Sprintf("status %d, want %d", resp.StatusCode, e.Status))
	}
	want := e.Header
	if _, ok := resp.Header["Content-Type"]; !ok && e.Status == http.StatusNotModified {
		// net/http's HTTP/1 server sends no Content-Type on a 304, and
		// package server follows it; its HTTP/2 server sends the handler's.
		want = want.Clone()
		delete(want, "Content-Type")
	}
	problems = CompareSent(problems, body, e.Body, resp.Header, want)
	if e.Length >= 0 && resp.ContentLength != e.Length {
		problems = append(problems, fmt.Sprintf("a HEAD's Content-Length %d, want the backend's %d", resp.ContentLength, e.Length))
	}
	for k, got := range resp.Header {
		if _, sent := e.Header[k]; sent {
			continue
		}
		switch k {
		case "Date", "Content-Length": // added for the hop
		case "Trailer": // the trailers' announcement
		case "Connection": // the close the proxy may announce
		default:
			if added == nil || !added(k) {
				problems = append(problems, fmt.Sprintf("field %s %q, which the backend did not send", k, got))
			}
		}
	}
	problems = CompareTrailers(problems, resp.Trailer, e.Trailer)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Node is a backend node on a bare TCP listener that answers every
// request with the answer set last (Set), keeping the connection but
// after an answer delimited by the close.
type Node struct {
	ln     net.Listener
	answer atomic.Pointer[Answer]
	wg     sync.WaitGroup
}

// NewNode starts a Node on 127.0.0.1, stopped as the test ends.
func NewNode(tb testing.TB) *Node {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	n := &Node{ln: ln}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.serve(c)
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close(); n.wg.Wait() })
	return n
}

// Addr returns the node's host:port.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Set makes a the answer to every request from now on.
func (n *Node) Set(a *Answer) { n.answer.Store(a) }

func (n *Node) serve(c net.Conn) {
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
		a := n.answer.Load()
		if _, err := c.Write(a.Bytes()); err != nil || a.Framing == 2 || req.Close {
			return
		}
	}
}

// Edge is a listener server serving the handler under test, with a client
// that keeps its connection and never asks for compression (a client that
// did would decode the body it is handed).
type Edge struct {
	Name   string
	Addr   string
	URL    string // of /t
	Client *http.Client
	H2     bool // the client speaks HTTP/2 (h2c), not HTTP/1.1
}

// Edges serves h with package server and with net/http's server, the
// latter over HTTP/1.1 and over h2c, until the test ends.
func Edges(tb testing.TB, h http.Handler) []Edge {
	var both, h2c http.Protocols
	both.SetHTTP1(true)
	both.SetUnencryptedHTTP2(true)
	h2c.SetUnencryptedHTTP2(true)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = &both
	srv.Start()
	tb.Cleanup(srv.Close)
	var edges []Edge
	for _, e := range []struct {
		name, addr string
		h2         bool
	}{
		{"server", servertest.Start(tb, h), false},
		{"net-http", srv.Listener.Addr().String(), false},
		{"net-http-h2c", srv.Listener.Addr().String(), true},
	} {
		tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}
		if e.h2 {
			tr.Protocols = &h2c
		}
		tb.Cleanup(tr.CloseIdleConnections)
		edges = append(edges, Edge{e.name, e.addr, "http://" + e.addr + "/t", &http.Client{Transport: tr, Timeout: waitLimit}, e.h2})
	}
	return edges
}

// Do sends the edge a request of method for /t with the fields of header,
// and returns the answer, its body read.
func (e Edge) Do(t *testing.T, method string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", e.Name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: reading the body: %v", e.Name, err)
	}
	return resp, body
}

// FuzzAnswers fuzzes the transparency of the handler that handler makes
// for a node's address: it adds the seeds (AddSeeds), builds each input's
// answer (AnswerFrom), skips those http.ReadResponse refuses, and sends
// the answer's request to the handler on every Edge, with a Node answering
// it. added is Expected.Check's.
func FuzzAnswers(f *testing.F, handler func(node string) http.Handler, added func(string) bool) {
	AddSeeds(f)
	node := NewNode(f)
	edges := Edges(f, handler(node.Addr()))
	f.Fuzz(func(t *testing.T, status uint16, fields string, body []byte, mode uint8, trailers string) {
		a := AnswerFrom(status, fields, body, mode, trailers)
		want, ok := a.Expect()
		if !ok {
			t.Skip("an answer ReadResponse refuses")
		}
		run(t, node, edges, a, want, added)
	})
}

// run sends a's request to every edge with n answering a, and reports
// each edge's departure from what e expects (Expected.Check).
func run(t *testing.T, n *Node, edges []Edge, a Answer, e Expected, added func(string) bool) {
	t.Helper()
	n.Set(&a)
	for _, edge := range edges {
		resp, got := edge.Do(t, a.Method(), nil)
		if err := e.Check(resp, got, added); err != nil {
			t.Errorf("%s, backend answer %q:\n%v", edge.Name, a.Bytes(), err)
		}
	}
}
