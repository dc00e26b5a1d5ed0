package hostile

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// outcome is what a smuggling case allows the gateway to do with the
// hostile request.
type outcome int

const (
	// accept: answer it from the backend; closing the connection after it
	// is allowed (net/http's listener closes after every chunked request,
	// since it cannot tell whether a Content-Length came with it).
	accept outcome = iota
	// refuse: answer 4xx itself (a problem body), close, reach no backend.
	refuse
	// closeOrRefuse: refuse, or answer it and close (RFC 9112, section 6.3,
	// for framing the gateway may process but must not trust further).
	closeOrRefuse
	// either: any of the above; the request is odd but not ambiguous.
	either
)

func (o outcome) String() string {
	return [...]string{"accept", "refuse", "close-or-refuse", "either"}[o]
}

// smuggleRow is a hostile request. On the same connection it is followed by
// a plain GET /smug/<id>/second with Connection: close, so that reading
// ends when the gateway closes, whichever way it took the first.
type smuggleRow struct {
	name string
	req  func(id string) string // the hostile request of case id
	want outcome
	// body is the body the backend must receive when it answers the
	// hostile request; "*" takes any.
	body     string
	allow501 bool // RFC 9112 lets a server answer 501 to a coding it does not know
	// check, when set, checks the backend's record of the hostile request.
	check func(t *testing.T, s seen)
}

// hidden is a request hidden in a body: it must never reach a backend.
func hidden(id string) string {
	return "GET /smug/" + id + "/SMUGGLED HTTP/1.1\r\nHost: h\r\n\r\n"
}

// head is the request line and header of the hostile POST of case id.
func head(id string, fields ...string) string {
	return "POST /smug/" + id + "/first HTTP/1.1\r\nHost: h\r\n" + strings.Join(fields, "\r\n") + "\r\n\r\n"
}

// withCL sends body with a Content-Length that covers it, after fields.
func withCL(body string, fields ...string) func(string) string {
	return func(id string) string {
		b := strings.ReplaceAll(body, "{hidden}", hidden(id))
		return head(id, append(fields, fmt.Sprintf("Content-Length: %d", len(b)))...) + b
	}
}

// raw sends the header fields and body as given ({hidden} replaced).
func raw(body string, fields ...string) func(string) string {
	return func(id string) string {
		return head(id, fields...) + strings.ReplaceAll(body, "{hidden}", hidden(id))
	}
}

const chunkedHello = "5\r\nhello\r\n0\r\n\r\n"

// zeroThenHidden ends a chunked body at once; what follows is a request if
// the gateway believes Transfer-Encoding, a body if it believes
// Content-Length.
const zeroThenHidden = "0\r\n\r\n{hidden}"

func smuggleRows() []smuggleRow {
	te := "Transfer-Encoding: chunked"
	trailerFree := func(name string) func(*testing.T, seen) {
		return func(t *testing.T, s seen) {
			if s.Trailer.Get(name) != "" || len(s.Header.Values(name)) > 1 {
				t.Errorf("the backend got the trailer's %s: header %q, trailer %q", name, s.Header.Values(name), s.Trailer.Values(name))
			}
			if s.Host != "h" {
				t.Errorf("the backend got Host %q, want the header's h", s.Host)
			}
		}
	}
	return []smuggleRow{
		// Controls: plain requests the gateway must forward, so that a
		// gateway refusing everything cannot pass.
		{name: "control: POST with Content-Length", req: raw("hello", "Content-Length: 5"), want: accept, body: "hello"},
		{name: "control: POST chunked", req: raw(chunkedHello, te), want: accept, body: "hello"},
		// CL.TE and TE.CL.
		{name: "CL.TE: Content-Length covering a chunked body and a hidden request", req: withCL(zeroThenHidden, te), want: closeOrRefuse, body: ""},
		{name: "TE.CL: chunked body holding a request, short Content-Length", req: func(id string) string {
			h := hidden(id)
			return head(id, te, "Content-Length: 3") + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(h), h)
		}, want: closeOrRefuse, body: "*"},
		{name: "CL.TE with Transfer-Encoding:<tab>chunked", req: withCL(zeroThenHidden, "Transfer-Encoding:\tchunked"), want: closeOrRefuse, body: ""},
		// Transfer-Encoding obfuscations, each with a Content-Length that
		// disagrees about where the request ends.
		{name: "TE obfuscation: chunked, identity", req: withCL(zeroThenHidden, "Transfer-Encoding: chunked, identity"), want: refuse, allow501: true},
		{name: "TE obfuscation: identity, chunked", req: withCL(zeroThenHidden, "Transfer-Encoding: identity, chunked"), want: refuse, allow501: true},
		{name: "TE obfuscation: xchunked", req: withCL(zeroThenHidden, "Transfer-Encoding: xchunked"), want: refuse, allow501: true},
		{name: "TE obfuscation: two fields chunked and identity", req: withCL(zeroThenHidden, te, "Transfer-Encoding: identity"), want: refuse, allow501: true},
		{name: "TE obfuscation: chunked twice", req: withCL(zeroThenHidden, te, te), want: refuse, allow501: true},
		{name: "TE obfuscation: whitespace before the colon", req: withCL(zeroThenHidden, "Transfer-Encoding : chunked"), want: refuse},
		{name: "TE obfuscation: vertical tab before chunked", req: withCL(zeroThenHidden, "Transfer-Encoding: \vchunked"), want: refuse, allow501: true},
		{name: "TE obfuscation: NUL after chunked", req: withCL(zeroThenHidden, "Transfer-Encoding: chunked\x00"), want: refuse, allow501: true},
		{name: "TE obfuscation: line starting with a space (obs-fold) is no field", req: withCL(zeroThenHidden, "X-Pad: x", " Transfer-Encoding: chunked"), want: either, body: zeroThenHidden},
		{name: "TE on HTTP/1.0 with Content-Length and keep-alive", req: func(id string) string {
			b := "0\r\n\r\n" + hidden(id)
			return "POST /smug/" + id + "/first HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n" + te +
				fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n", len(b)) + b
		}, want: closeOrRefuse, body: "*"},
		{name: "TE alone with a tab before chunked is chunked", req: raw(chunkedHello, "Transfer-Encoding:\tchunked"), want: accept, body: "hello"},
		{name: "TE alone with two spaces before chunked is chunked", req: raw(chunkedHello, "Transfer-Encoding:  chunked"), want: accept, body: "hello"},
		{name: "TE alone CHUNKED in capitals is chunked", req: raw(chunkedHello, "Transfer-Encoding: CHUNKED"), want: accept, body: "hello"},
		// Content-Length.
		{name: "CL duplicate identical fields", req: raw("hello", "Content-Length: 5", "Content-Length: 5"), want: either, body: "hello"},
		{name: "CL duplicate conflicting fields", req: raw("hello!", "Content-Length: 5", "Content-Length: 6"), want: refuse},
		{name: "CL conflicting list 5, 6", req: raw("hello!", "Content-Length: 5, 6"), want: refuse},
		{name: "CL identical list 5, 5", req: raw("hello", "Content-Length: 5, 5"), want: either, body: "hello"},
		{name: "CL +5", req: raw("hello", "Content-Length: +5"), want: refuse},
		{name: "CL -1", req: raw("hello", "Content-Length: -1"), want: refuse},
		{name: "CL 0x5", req: raw("hello", "Content-Length: 0x5"), want: refuse},
		{name: "CL 2^64 overflows", req: raw("hello", "Content-Length: 18446744073709551616"), want: refuse},
		{name: "CL 30 digits", req: raw("hello", "Content-Length: 999999999999999999999999999999"), want: refuse},
		{name: "CL whitespace before the colon", req: raw("hello", "Content-Length : 5"), want: refuse},
		// Chunked framing.
		{name: "chunk size overflow ffffffffffffffffff", req: raw("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", te), want: refuse},
		{name: "chunk size zz", req: raw("zz\r\nx\r\n0\r\n\r\n", te), want: refuse},
		{name: "chunk size -5", req: raw("-5\r\nhello\r\n0\r\n\r\n", te), want: refuse},
		{name: "chunk size 0x5", req: raw("0x5\r\nhello\r\n0\r\n\r\n", te), want: refuse},
		{name: "chunk data longer than its size", req: raw("3\r\nhello\r\n0\r\n\r\n", te), want: refuse},
		{name: "chunk extension name=value", req: raw("5;name=value\r\nhello\r\n0\r\n\r\n", te), want: accept, body: "hello"},
		{name: "chunk extension with a quoted semicolon", req: raw("5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", te), want: either, body: "hello"},
		{name: "chunk extension of 8 KiB", req: raw("5;a="+strings.Repeat("x", 8<<10)+"\r\nhello\r\n0\r\n\r\n", te), want: either, body: "hello"},
		{name: "chunk size followed by a space", req: raw("5 \r\nhello\r\n0\r\n\r\n", te), want: either, body: "hello"},
		// Line endings, folding, NUL, whitespace.
		{name: "bare LF in chunked framing", req: raw("5\nhello\n0\n\n", te), want: either, body: "hello"},
		{name: "bare LF ends every header line", req: func(id string) string {
			return "POST /smug/" + id + "/first HTTP/1.1\nHost: h\nContent-Length: 5\n\nhello"
		}, want: either, body: "hello"},
		{name: "bare CR inside a field value before Transfer-Encoding", req: withCL(zeroThenHidden, "X-A: a\rTransfer-Encoding: chunked"), want: either, body: zeroThenHidden},
		{name: "bare CR ends the request line", req: func(id string) string {
			return "POST /smug/" + id + "/first HTTP/1.1\rHost: h\r\nContent-Length: 5\r\n\r\nhello"
		}, want: refuse},
		{name: "obs-fold in an ordinary field", req: raw("hello", "X-Fold: a", " b", "Content-Length: 5"), want: either, body: "hello"},
		{name: "obs-fold continuing Content-Length", req: raw("hello", "Content-Length: 5", " 0"), want: refuse},
		{name: "NUL in a field value", req: raw("hello", "X-A: a\x00b", "Content-Length: 5"), want: refuse},
		{name: "NUL in a field name", req: raw("hello", "X-\x00A: b", "Content-Length: 5"), want: refuse},
		{name: "whitespace before the colon of an ordinary field", req: raw("hello", "X-A : b", "Content-Length: 5"), want: refuse},
		// Trailers carrying framing fields.
		{name: "trailer Content-Length", req: raw("5\r\nhello\r\n0\r\nContent-Length: 100\r\n\r\n", te), want: either, body: "hello", check: trailerFree("Content-Length")},
		{name: "trailer Transfer-Encoding", req: raw("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", te), want: either, body: "hello", check: trailerFree("Transfer-Encoding")},
		{name: "trailer Host", req: raw("5\r\nhello\r\n0\r\nHost: evil\r\n\r\n", te), want: either, body: "hello", check: trailerFree("Host")},
	}
}

func smugglingCases() []hcase {
	var cases []hcase
	for i, row := range smuggleRows() {
		id := smuggleID(i)
		cases = append(cases, hcase{family: "smuggling", name: row.name, run: func(t *testing.T, s *stack) {
			checkSmuggle(t, s, id, row)
		}})
	}
	return cases
}

// smuggleID names the i-th smuggling case: its paths are /smug/<id>/..., on
// a route and service of its own.
func smuggleID(i int) string { return fmt.Sprintf("s%02d", i) }

func checkSmuggle(t *testing.T, s *stack, id string, row smuggleRow) {
	first, second := "/smug/"+id+"/first", "/smug/"+id+"/second"
	x := send(t, s.gw, row.req(id)+"GET "+second+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	t.Logf("%s", x)
	if !x.closed() {
		t.Errorf("the connection neither ended nor closed within %v (a hang): %v", hangLimit, x.end)
	}
	if got := s.echo.matching("/smug/" + id + "/SMUGGLED"); len(got) > 0 {
		t.Errorf("a request hidden in the body reached the backend as a request of its own (%d times)", len(got))
	}
	order := []string{first, second}
	backend := 0
	for i, a := range x.answers {
		if !a.fromBackend() {
			continue
		}
		if backend >= len(order) || a.resp.Header.Get("X-Seen") != order[backend] {
			t.Errorf("answer %d is the backend's answer to %q, out of order", i, a.resp.Header.Get("X-Seen"))
		}
		backend++
	}
	complete := s.echo.complete("/smug/" + id + "/")
	if len(complete) != backend {
		t.Errorf("the backend completed %d requests of this case, the client got %d answers from it: their views of where requests end differ",
			len(complete), backend)
	}

	refused := len(x.answers) == 1 && !x.answers[0].fromBackend() && x.closed()
	if refused {
		a := x.answers[0]
		code := a.status()
		if !(code >= 400 && code < 500 || row.allow501 && code == http.StatusNotImplemented) {
			t.Errorf("refused with %d, want a 4xx", code)
		}
		if !a.isProblem() {
			t.Errorf("refused with Content-Type %q, want application/problem+json", a.resp.Header.Get("Content-Type"))
		}
		if len(complete) != 0 {
			t.Errorf("refused, yet the backend completed %d requests", len(complete))
		}
	}
	answeredFirst := len(x.answers) >= 1 && x.answers[0].fromBackend() && x.answers[0].resp.Header.Get("X-Seen") == first
	closedAfterFirst := answeredFirst && len(x.answers) == 1 && x.closed()
	acceptedBoth := len(x.answers) == 2 && answeredFirst && x.answers[1].fromBackend()
	ok := false
	switch row.want {
	case accept:
		ok = acceptedBoth || closedAfterFirst
	case refuse:
		ok = refused
	case closeOrRefuse:
		ok = refused || closedAfterFirst
	case either:
		ok = refused || closedAfterFirst || acceptedBoth
	}
	if !ok {
		t.Errorf("want %v; got %v", row.want, x)
	}
	if answeredFirst {
		var rec *seen
		for i := range complete {
			if complete[i].RequestURI == first {
				rec = &complete[i]
			}
		}
		switch {
		case rec == nil:
			t.Errorf("answered from the backend, but the backend holds no complete record of %s", first)
		case row.body != "*" && rec.Body != strings.ReplaceAll(row.body, "{hidden}", hidden(id)):
			t.Errorf("the backend got body %q, want %q", rec.Body, strings.ReplaceAll(row.body, "{hidden}", hidden(id)))
		case row.check != nil:
			row.check(t, *rec)
		}
	}
}
