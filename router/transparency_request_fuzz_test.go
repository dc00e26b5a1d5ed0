package router_test

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

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/proxytest"
)

// The forward's transparency, fuzzed, as FuzzProxiedAnswer fuzzes the
// answer's: whatever well-formed request a client sends, the backend gets
// its method, target and Host, each of its end-to-end fields with its
// values in their order, its body byte for byte and the declared trailers
// that may cross, plus the fields the gateway adds for the hop
// (X-Forwarded-For with the client's address appended, X-Forwarded-Host and
// -Proto of its own, the budget) and nothing else. Left out: hop-by-hop
// fields, those the client's Connection field names, Expect (the gateway
// answers it), and the client's X-Forwarded-Host and -Proto.

// requestSpec is one client request, built from the fuzzer's input.
type requestSpec struct {
	method   string
	fields   [][2]string
	body     []byte
	framing  int // 0: no body, 1: Content-Length, 2: chunked
	trailers [][2]string
	declare  bool
}

func requestSpecFrom(method uint8, fields string, body []byte, mode uint8, trailers string) requestSpec {
	s := requestSpec{method: []string{"GET", "POST", "PUT", "DELETE"}[method%4], body: body,
		framing: int(mode % 3), declare: mode&4 != 0}
	skip := func(k string) bool {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Trailer", "Host", // the spec's framing and Host
			"Upgrade",                                // a switch of protocols, another path
			budget.HeaderName, budget.GRPCHeaderName: // the budget's, checked elsewhere
			return true
		}
		return false
	}
	s.fields = proxytest.FieldLines(fields, 24, skip)
	if s.framing == 0 {
		s.body = nil
	}
	if s.framing == 2 {
		s.trailers = proxytest.FieldLines(trailers, 8, skip)
	}
	return s
}

// bytes returns the request as the client writes it, on a connection it
// closes after the answer.
func (s requestSpec) bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s /t?q=1 HTTP/1.1\r\nHost: gw.test\r\n", s.method)
	proxytest.WriteFields(&b, s.fields)
	switch s.framing {
	case 0:
		b.WriteString("\r\n")
	case 1:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(s.body))
		b.Write(s.body)
	case 2:
		proxytest.WriteChunked(&b, s.body, s.trailers, s.declare)
	}
	return b.Bytes()
}

// forwarded is what the backend got of a request.
type forwarded struct {
	method, uri, host string
	header, trailer   http.Header
	body              []byte
}

// expectedForward is what the backend must get.
type expectedForward struct {
	forwarded
	xff string // the whole X-Forwarded-For the backend must get
}

// expect reads the request's bytes as http.ReadRequest does and keeps what
// crosses a proxy; ok is false when ReadRequest refuses them, or the
// request asks for something other than a forward (an expectation but
// 100-continue).
func (s requestSpec) expect() (e expectedForward, ok bool) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(s.bytes())))
	if err != nil {
		return e, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return e, false
	}
	if x := r.Header["Expect"]; len(x) > 0 && (len(x) > 1 || !strings.EqualFold(x[0], "100-continue")) {
		return e, false // an expectation the listener servers refuse (417), as net/http's does
	}
	rule := proxytest.NewRule(s.fields)
	e.method, e.uri, e.host, e.body = r.Method, r.RequestURI, r.Host, body
	e.header = http.Header{}
	for k, vv := range r.Header {
		switch {
		case !rule.Crosses(k), k == "Expect", k == "Content-Length",
			k == "X-Forwarded-Host", k == "X-Forwarded-Proto", k == "X-Forwarded-For":
		default:
			e.header[k] = vv
		}
	}
	e.xff = "127.0.0.1"
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 && rule.Crosses("X-Forwarded-For") {
		e.xff = strings.Join(prior, ", ") + ", 127.0.0.1"
	}
	if s.declare {
		e.trailer = rule.Trailers(r.Trailer)
	}
	return e, true
}

// check compares what the backend got with e.
func (e expectedForward) check(got forwarded) error {
	var problems []string
	if got.method != e.method || got.uri != e.uri || got.host != e.host {
		problems = append(problems, fmt.Sprintf("%s %s Host %q, want %s %s Host %q", got.method, got.uri, got.host, e.method, e.uri, e.host))
	}
	problems = proxytest.CompareSent(problems, got.body, e.body, got.header, e.header)
	for k, g := range got.header {
		if _, sent := e.header[k]; sent {
			continue
		}
		var want []string
		switch k {
		case "X-Forwarded-For":
			want = []string{e.xff}
		case "X-Forwarded-Host":
			want = []string{e.host}
		case "X-Forwarded-Proto":
			want = []string{"http"}
		case budget.HeaderName, "Content-Length", "Trailer", // the hop's budget and framing
			"Connection": // the hop's own close (h1's fallback keeps no connection)
			continue
		default:
			problems = append(problems, fmt.Sprintf("field %s %q, which the client did not send", k, g))
			continue
		}
		if !slices.Equal(g, want) {
			problems = append(problems, fmt.Sprintf("field %s %q, want %q", k, g, want))
		}
	}
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", budget.HeaderName} {
		if _, ok := got.header[k]; !ok {
			problems = append(problems, "no "+k)
		}
	}
	problems = proxytest.CompareTrailers(problems, got.trailer, e.trailer)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func FuzzForwardedRequest(f *testing.F) {
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

	got := make(chan forwarded, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- forwarded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), r.Trailer.Clone(), body}
	}))
	f.Cleanup(be.Close)
	rt := newTransparentRouter(f, be.Listener.Addr().String(), "*")
	edges := proxytest.Edges(f, rt)
	f.Fuzz(func(t *testing.T, method uint8, fields string, body []byte, mode uint8, trailers string) {
		s := requestSpecFrom(method, fields, body, mode, trailers)
		want, ok := s.expect()
		if !ok {
			t.Skip("a request ReadRequest refuses")
		}
		for _, e := range edges {
			if e.H2 {
				continue // the request's bytes are HTTP/1.1's
			}
			c, err := net.Dial("tcp", e.Addr)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(waitLimit))
			if _, err := c.Write(s.bytes()); err != nil {
				c.Close()
				t.Fatalf("%s: %v", e.Name, err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			for err == nil && resp.StatusCode == http.StatusContinue {
				resp, err = http.ReadResponse(br, nil)
			}
			c.Close()
			if err != nil {
				t.Fatalf("%s: %v", e.Name, err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: answered %d to %q", e.Name, resp.StatusCode, s.bytes())
			}
			select {
			case g := <-got:
				if err := want.check(g); err != nil {
					t.Errorf("%s, client request %q:\n%v", e.Name, s.bytes(), err)
				}
			default:
				t.Fatalf("%s: answered 200 without a forward", e.Name)
			}
		}
	})
}
