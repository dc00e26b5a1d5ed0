package proxytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// Request is one client request, built from a fuzzer's input
// (RequestFrom), sent on a connection of its own over HTTP/1.1.
type Request struct {
	Method   string
	Fields   [][2]string
	Body     []byte
	Framing  int // 0: no body, 1: Content-Length, 2: chunked
	Trailers [][2]string
	Declare  bool // a Trailer field names the trailers
}

// LargeBody is what a request's body is padded with when its mode asks
// (RequestFrom): more than a proxy holds before it streams the rest
// (router.MaxReplayBody; router's fuzz test checks it is smaller).
const LargeBody = 80 << 10

// RequestFrom builds a request from a fuzzer's input: GET, POST, PUT or
// DELETE; fields and trailers as "name: value" lines (FieldLines), never
// the framing's, Host, Upgrade (a switch of protocols, not a forward) or
// the budget's (a budget is tested elsewhere); mode's bits choose the
// framing (mode % 3), declared trailers (4), and a body padded past
// LargeBody (32); H2Bytes reads two more.
func RequestFrom(method uint8, fields string, body []byte, mode uint8, trailers string) Request {
	r := Request{Method: []string{"GET", "POST", "PUT", "DELETE"}[method%4], Body: body,
		Framing: int(mode % 3), Declare: mode&4 != 0}
	skip := func(k string) bool {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Upgrade", "Sluice-Budget", "Grpc-Timeout":
			return true
		}
		return false
	}
	r.Fields = FieldLines(fields, 24, skip)
	if mode&32 != 0 {
		r.Body = append(bytes.Repeat([]byte{'.'}, LargeBody), body...)
	}
	if r.Framing == 0 {
		r.Body = nil
	}
	if r.Framing == 2 {
		r.Trailers = FieldLines(trailers, 8, skip)
	}
	return r
}

// AddRequestSeeds adds to f requests of every kind: repeated fields,
// Connection-named ones, declared and undeclared trailers, X-Forwarded-*
// from the client, hop-by-hop fields, cookies and obs-text.
func AddRequestSeeds(f *testing.F) {
	f.Add(uint8(0), "Accept: */*\nX-A: 1\nX-A: 2\nUser-Agent: fuzz", []byte{}, uint8(0), "")
	f.Add(uint8(1), "Content-Type: application/json\nConnection: keep-alive, X-Hop\nX-Hop: s\nx-b: v",
		[]byte(`{"a":1}`), uint8(1), "")
	f.Add(uint8(2), "Connection: X-Hop\nExpect: 100-continue", []byte("body"), uint8(6),
		"X-Sum: 42\nAuthorization: Bearer x\nX-Hop: s\nHost: evil\nContent-Type: a/b") // declared
	f.Add(uint8(1), "", []byte("body"), uint8(2), "X-Sum: 42") // undeclared: not forwarded
	f.Add(uint8(0), "X-Forwarded-For: 10.0.0.1\nX-Forwarded-For: 10.0.0.2\nX-Forwarded-Host: evil\nX-Forwarded-Proto: https",
		[]byte{}, uint8(0), "")
	f.Add(uint8(3), "Connection: X-Forwarded-For\nX-Forwarded-For: 10.0.0.1\nKeep-Alive: 5\nTe: trailers\nProxy-Authorization: Basic eA==",
		[]byte{}, uint8(0), "")
	f.Add(uint8(0), "Cookie: a=1\nCookie: b=2\nX-Obs: caf\xe9\nAccept-Encoding: gzip", []byte{}, uint8(0), "")
	// HTTP/2's: Cookie fields joined, TE: trailers allowed, Host among
	// the fields (mode's bits 8 and 16), a field HTTP/2 refuses.
	f.Add(uint8(1), "Cookie: a=1\nCookie: b=2\nTe: trailers\nX-A: 1", []byte("body"), uint8(4|16), "X-Sum: 42\nCookie: c=3") // 20 % 3: chunked
	f.Add(uint8(0), "X-A: 1", []byte{}, uint8(8|16), "")
	f.Add(uint8(1), "Connection: X-A\nX-A: 1", []byte("b"), uint8(8|2), "") // 10 % 3: Content-Length
	f.Add(uint8(1), "Expect: x-odd\nX-A: 1", []byte("b"), uint8(1), "")     // 417 over HTTP/1.1 alone
	// Bodies past what a proxy holds, streamed: chunked with declared
	// trailers (a DELETE's, of unknown length over HTTP/2), and of a length.
	f.Add(uint8(3), "X-A: 1", []byte("end"), uint8(32|4|2), "X-Sum: 42\nX-Hop: s") // 38 % 3: chunked
	f.Add(uint8(1), "Connection: X-Hop\nX-Hop: s", []byte("end"), uint8(32|2), "") // 34 % 3: Content-Length
	// Trailers past what HTTP/1.1 carries (MaxTrailerSection), which
	// only an HTTP/2 client can send: refused, held or streamed.
	long := "X-Sum: " + strings.Repeat("9", MaxTrailerSection)
	f.Add(uint8(2), "X-A: 1", []byte("end"), uint8(4|1), long)    // 5 % 3: chunked
	f.Add(uint8(2), "X-A: 1", []byte("end"), uint8(32|4|2), long) // 38 % 3: chunked
	f.Add(uint8(1), "X-Real-Ip: 6.6.6.6\nX_Real_Ip: 6.6.6.6\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"+
		"X-B3-Sampled: 1\nx_datadog_trace_id: 1\nX-Request-Id: mine\nX-Http-Method-Override: DELETE\nSluice_Budget: 1h",
		[]byte("b"), uint8(1), "")
}

// Bytes returns the request as the client writes it.
func (r Request) Bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s /t?q=1 HTTP/1.1\r\nHost: gw.test\r\n", r.Method)
	WriteFields(&b, r.Fields)
	switch r.Framing {
	case 0:
		b.WriteString("\r\n")
	case 1:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(r.Body))
		b.Write(r.Body)
	case 2:
		WriteChunked(&b, r.Body, r.Trailers, r.Declare)
	}
	return b.Bytes()
}

// Forwarded is what the backend got of a request.
type Forwarded struct {
	Method, URI, Host string
	Header, Trailer   http.Header
	Body              []byte
}

// ExpectedForward is what the backend must get of a request.
type ExpectedForward struct {
	Forwarded
	// Refused is set when the proxy must answer 400 and forward nothing
	// whole: an HTTP/2 request whose trailers HTTP/1.1 cannot carry
	// (ExpectH2).
	Refused bool
	xff     string            // the whole X-Forwarded-For the backend must get
	dropped func(string) bool // fields the proxy under test keeps from the backend
	added   func(string) bool // fields it adds of its own
}

// Expect reads the request's bytes as http.ReadRequest does and keeps what
// crosses a proxy (Rule), less the fields dropped reports (when not nil:
// those the proxy under test keeps from backends, in any spelling); ok is
// false when ReadRequest refuses them, or the request expects something
// but 100-continue (the listener servers answer 417, as net/http's does).
func (r Request) Expect(dropped, added func(string) bool) (e ExpectedForward, ok bool) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(r.Bytes())))
	if err != nil {
		return e, false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return e, false
	}
	if x := req.Header["Expect"]; len(x) > 0 && (len(x) > 1 || !strings.EqualFold(x[0], "100-continue")) {
		return e, false
	}
	got := Forwarded{req.Method, req.RequestURI, req.Host, req.Header, req.Trailer, body}
	return expectForward(got, NewRule(r.Fields), r.Declare, dropped, added), true
}

// expectForward is what the backend must get of a request a proxy was
// handed as got, of the rule given, with trailers declared or not.
func expectForward(got Forwarded, rule Rule, declare bool, dropped, added func(string) bool) (e ExpectedForward) {
	e.Method, e.URI, e.Host, e.Body = got.Method, got.URI, got.Host, got.Body
	e.dropped, e.added = dropped, added
	e.Header = http.Header{}
	for k, vv := range got.Header {
		switch {
		case !rule.Crosses(k), k == "Expect", k == "Content-Length",
			k == "X-Forwarded-Host", k == "X-Forwarded-Proto", k == "X-Forwarded-For",
			dropped != nil && dropped(k):
		default:
			e.Header[k] = vv
		}
	}
	e.xff = "127.0.0.1"
	if prior := got.Header["X-Forwarded-For"]; len(prior) > 0 && rule.Crosses("X-Forwarded-For") &&
		(dropped == nil || !dropped("X-Forwarded-For")) {
		e.xff = strings.Join(prior, ", ") + ", 127.0.0.1"
	}
	if declare {
		e.Trailer = rule.Trailers(got.Trailer)
		for k := range e.Trailer {
			if dropped != nil && dropped(k) {
				delete(e.Trailer, k)
			}
		}
	}
	return e
}

// Check compares what the backend got with e: the request's method,
// target, Host, body, end-to-end fields and crossing trailers, plus
// X-Forwarded-For with the client's address appended, X-Forwarded-Host and
// -Proto of the proxy's own and the budget, and nothing else but the
// fields e's added reports.
func (e ExpectedForward) Check(got Forwarded) error {
	var problems []string
	if got.Method != e.Method || got.URI != e.URI || got.Host != e.Host {
		problems = append(problems, fmt.Sprintf("%s %s Host %q, want %s %s Host %q", got.Method, got.URI, got.Host, e.Method, e.URI, e.Host))
	}
	problems = CompareSent(problems, got.Body, e.Body, got.Header, e.Header)
	for k, g := range got.Header {
		if _, sent := e.Header[k]; sent {
			continue
		}
		var want []string
		switch k {
		case "X-Forwarded-For":
			want = []string{e.xff}
		case "X-Forwarded-Host":
			want = []string{e.Host}
		case "X-Forwarded-Proto":
			want = []string{"http"}
		case "Sluice-Budget", "Content-Length", "Trailer", // the hop's budget and framing
			"Connection": // the hop's own close (h1's fallback keeps no connection)
			continue
		default:
			if e.added == nil || !e.added(k) {
				problems = append(problems, fmt.Sprintf("field %s %q, which the client did not send or should not cross", k, g))
			}
			continue
		}
		if !slices.Equal(g, want) {
			problems = append(problems, fmt.Sprintf("field %s %q, want %q", k, g, want))
		}
	}
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Sluice-Budget"} {
		if _, ok := got.Header[k]; !ok {
			problems = append(problems, "no "+k)
		}
	}
	problems = CompareTrailers(problems, got.Trailer, e.Trailer)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// FuzzRequests fuzzes the transparency of the handler that handler makes
// for a backend's address to requests: it adds the seeds
// (AddRequestSeeds), builds each input's request (RequestFrom), and sends
// it to the handler on every Edge, with a backend recording what it gets:
// its HTTP/1.1 bytes, judged by Expect, to the HTTP/1.1 edges, unless
// http.ReadRequest refuses them, and its HTTP/2 frames (H2Bytes), judged
// by ExpectH2, to the h2c one, unless net/http's HTTP/2 server refuses
// them. dropped and added are Expect's.
func FuzzRequests(f *testing.F, handler func(backend string) http.Handler, dropped, added func(string) bool) {
	AddRequestSeeds(f)
	got := make(chan Forwarded, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil { // a forward the proxy cut short: none, and a status no proxy answers of its own
			w.WriteHeader(http.StatusTeapot)
			return
		}
		got <- Forwarded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), r.Trailer.Clone(), body}
	}))
	f.Cleanup(be.Close)
	edges := Edges(f, handler(be.Listener.Addr().String()))
	ref := NewH2Reference(f)
	f.Fuzz(func(t *testing.T, method uint8, fields string, body []byte, mode uint8, trailers string) {
		r := RequestFrom(method, fields, body, mode, trailers)
		want, ok := r.Expect(dropped, added)
		wantH2, okH2 := r.ExpectH2(ref, mode, dropped, added)
		if !ok && !okH2 {
			t.Skip("a request ReadRequest and net/http's HTTP/2 server refuse")
		}
		for _, e := range edges {
			sent, exchanged, expected := r.Bytes(), exchange, want
			switch {
			case e.H2 && !okH2, !e.H2 && !ok:
				continue // a request this edge's protocol refuses
			case e.H2:
				sent, exchanged, expected = r.H2Bytes(mode), exchangeH2, wantH2
			}
			status, err := exchanged(e.Addr, sent)
			if err != nil {
				t.Fatalf("%s: %v to %q", e.Name, err, sent)
			}
			if expected.Refused {
				if status != http.StatusBadRequest {
					t.Fatalf("%s: answered %d, want 400, to %q", e.Name, status, sent)
				}
				select {
				case g := <-got:
					t.Fatalf("%s: forwarded a request it refused: %v", e.Name, g)
				default:
				}
				continue
			}
			if status != http.StatusOK {
				t.Fatalf("%s: answered %d to %q", e.Name, status, sent)
			}
			select {
			case g := <-got:
				if err := expected.Check(g); err != nil {
					t.Errorf("%s, client request %q:\n%v", e.Name, sent, err)
				}
			default:
				t.Fatalf("%s: answered 200 without a forward", e.Name)
			}
		}
	})
}

// exchange writes req on a new connection to addr and returns the status
// of its final answer.
func exchange(addr string, req []byte) (int, error) {
	c, err := send(addr, req)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// send writes req on a new connection to addr, whose reads and writes it
// bounds by waitLimit, and returns the connection.
func send(addr string, req []byte) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
