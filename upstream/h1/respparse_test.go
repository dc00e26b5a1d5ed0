package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/fieldname"
	"github.com/sluicehq/sluice/internal/leanctx"
)

// parseResponse is held to http.ReadResponse: the same input, read the same
// way, must give the same response (every field), the same body bytes and
// errors, read for read, and leave the reader at the same byte.

var errWire = errors.New("wire error")

// wire is a reader of data in reads of the sizes given (0 is an empty
// read), cycling, then of err. With errWithData, the read that returns the
// last bytes returns err too.
type wire struct {
	data        []byte
	off         int
	sizes       []byte
	next        int
	err         error
	errWithData bool
}

func (w *wire) Read(p []byte) (int, error) {
	if w.off == len(w.data) {
		return 0, w.err
	}
	n := len(w.data) - w.off
	if len(w.sizes) > 0 {
		n = min(n, int(w.sizes[w.next%len(w.sizes)]))
		w.next++
	}
	n = copy(p, w.data[w.off:w.off+n])
	w.off += n
	if w.off == len(w.data) && w.errWithData {
		return n, w.err
	}
	return n, nil
}

// read is how a test case is read: the reads' sizes, the wire's end, the
// request.
type read struct {
	sizes       []byte // of the wire's reads and of the body's reads
	err         error  // the wire's end: io.EOF or errWire
	errWithData bool
	method      string // "" means no request
	closeAfter  int    // reads of the body before Close; <0 means to the end
}

// consumed returns how many bytes br consumed from w.
func consumed(w *wire, br *bufio.Reader) int { return w.off - br.Buffered() }

// step is one Read or Close of a body.
type step struct {
	n    int
	data string
	err  error
}

// drain reads body as rd says (to its first error and once more, or
// rd.closeAfter times), then closes it and reads once more, recording
// every call.
func drain(body io.ReadCloser, rd read) []step {
	var steps []step
	buf := make([]byte, 4096)
	failed := false
	for i := 0; i < 1000 && i != rd.closeAfter; i++ {
		size := 512
		if len(rd.sizes) > 0 {
			size = int(rd.sizes[i%len(rd.sizes)])
		}
		n, err := body.Read(buf[:size])
		steps = append(steps, step{n, string(buf[:n]), err})
		if failed {
			break
		}
		failed = err != nil
	}
	steps = append(steps, step{err: body.Close()})
	n, err := body.Read(buf[:1])
	steps = append(steps, step{n, string(buf[:n]), err})
	return steps
}

// differential parses data with parseResponse and, when it accepts it,
// with http.ReadResponse, and fails t on any difference. It returns whether
// parseResponse accepted the data.
func differential(t testing.TB, data []byte, rd read) bool {
	t.Helper()
	var req *http.Request
	if rd.method != "" {
		req = &http.Request{Method: rd.method}
	}
	w1 := &wire{data: data, sizes: rd.sizes, err: rd.err, errWithData: rd.errWithData}
	w2 := &wire{data: data, sizes: rd.sizes, err: rd.err, errWithData: rd.errWithData}
	br1, br2 := bufio.NewReader(w1), bufio.NewReader(w2)

	got, ok, gotErr := parseResponse(br1, req)
	if !ok {
		if got != nil || gotErr != nil {
			t.Fatalf("declined with %v, %v", got, gotErr)
		}
		if n := consumed(w1, br1); n != 0 {
			t.Fatalf("declined after consuming %d bytes", n)
		}
		return false
	}
	want, wantErr := http.ReadResponse(br2, req)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("error %v, ReadResponse's %v", gotErr, wantErr)
	}
	if n1, n2 := consumed(w1, br1), consumed(w2, br2); n1 != n2 {
		t.Fatalf("header consumed %d bytes, ReadResponse %d", n1, n2)
	}
	if gotErr != nil {
		return true
	}
	if (got.Body == http.NoBody) != (want.Body == http.NoBody) {
		t.Fatalf("Body %T, ReadResponse's %T", got.Body, want.Body)
	}
	r1, r2 := *got, *want
	r1.Body, r2.Body = nil, nil
	r1.Header = lessKeptConnection(got.Header, want.Header, want.ProtoAtLeast(1, 1))
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("response\n%#v\nReadResponse's\n%#v", r1, r2)
	}
	if got.Request != req {
		t.Fatalf("Request %p, want %p", got.Request, req)
	}
	for k, vv := range r1.Header {
		if cap(vv) != cap(want.Header[k]) {
			t.Fatalf("cap of %q's values %d, ReadResponse's %d", k, cap(vv), cap(want.Header[k]))
		}
	}
	s1, s2 := drain(got.Body, rd), drain(want.Body, rd)
	if !reflect.DeepEqual(s1, s2) {
		t.Fatalf("body reads\n%+v\nReadResponse's\n%+v", s1, s2)
	}
	if n1, n2 := consumed(w1, br1), consumed(w2, br2); n1 != n2 {
		t.Fatalf("response consumed %d bytes, ReadResponse %d", n1, n2)
	}
	return true
}

// lessKeptConnection returns got, h1's header of an answer, less the one
// difference from want, ReadResponse's header of it, that h1 means
// (connfield.go): the Connection fields, when they hold "close" in an
// answer of HTTP/1.1 or later (http11) and ReadResponse deleted them. Any
// other difference is left for the caller to find.
func lessKeptConnection(got, want http.Header, http11 bool) http.Header {
	if !http11 || want["Connection"] != nil || !hasToken(got["Connection"], "close") {
		return got
	}
	h := maps.Clone(got)
	delete(h, "Connection")
	return h
}

var respCases = []struct {
	name string
	data string
	fast bool // parseResponse accepts it read at once
}{
	{"typical", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 03 Dec 2026 23:55:36 GMT\r\nContent-Length: 12\r\n\r\nhello, world", true},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", true},
	{"empty reason", "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", true},
	{"reason with blanks", "HTTP/1.1 404 Not  Found \t\r\nContent-Length: 2\r\n\r\nno", true},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
	{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", true},
	{"HTTP/1.0 close", "HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true},
	{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true},
	{"CLOSE", "HTTP/1.1 200 OK\r\nconnection:CLOSE \r\nContent-Length: 2\r\n\r\nok", true},
	{"keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true},
	{"empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	{"leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok", true},
	{"18 digits", "HTTP/1.1 200 OK\r\nContent-Length: 000000000000000002\r\n\r\nok", true},
	{"lower-case keys", "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\nx-request-id: abc\r\ncONTENT-lENGTH: 2\r\n\r\nok", true},
	{"lower case after a hyphen", "HTTP/1.1 200 OK\r\nContent-type: text/plain\r\nContent-Length: 2\r\n\r\nok", true},
	{"upper case within a word", "HTTP/1.1 200 OK\r\nX-Request-ID: abc\r\nContent-Length: 2\r\n\r\nok", true},
	{"odd keys", "HTTP/1.1 200 OK\r\nx_y.z~!#$%&'*+^`|: 1\r\n-a-b-: 2\r\n1a: 3\r\nContent-Length: 2\r\n\r\nok", true},
	{"repeated keys", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: x\r\nset-cookie: b=2\r\nSet-Cookie: c=3\r\nContent-Length: 2\r\n\r\nok", true},
	{"many values", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\nJ: 10\r\nContent-Length: 2\r\n\r\nok", true},
	{"blank values", "HTTP/1.1 200 OK\r\nX:\r\nY: \t \r\nZ:\t a b \t\r\nContent-Length: 2\r\n\r\nok", true},
	{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", true},
	{"pragma and cache-control", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\ncache-control: max-age=1\r\nContent-Length: 2\r\n\r\nok", true},
	{"pragma other", "HTTP/1.1 200 OK\r\nPragma: x\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", true},
	{"trailing bytes", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n", true},
	{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true},
	{"599", "HTTP/1.1 599 x\r\nContent-Length: 2\r\n\r\nok", true},
	{"empty", "", true}, // the reader's error, as ReadResponse's
	{"trailer without chunks", "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 2\r\n\r\nok", false},

	{"no content-length", "HTTP/1.1 200 OK\r\n\r\nuntil close", false},
	{"HTTP/1.0 no content-length", "HTTP/1.0 200 OK\r\n\r\nuntil close", false},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"HTTP/1.0 TE", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok", false},
	{"duplicate CL", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"conflicting CL", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!", false},
	{"CL list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false},
	{"CL sign", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
	{"CL empty", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nok", false},
	{"CL 19 digits", "HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000002\r\n\r\nok", false},
	{"CL too large", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nok", false},
	{"100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"101", "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 2\r\n\r\nok", false},
	{"204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", false},
	{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false},
	{"600", "HTTP/1.1 600 x\r\nContent-Length: 2\r\n\r\nok", false},
	{"099", "HTTP/1.1 099 x\r\nContent-Length: 2\r\n\r\nok", false},
	{"status sign", "HTTP/1.1 +20 x\r\nContent-Length: 2\r\n\r\nok", false},
	{"status 4 digits", "HTTP/1.1 2000 x\r\nContent-Length: 2\r\n\r\nok", false},
	{"two spaces", "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"lower-case proto", "http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false},
	{"bare LF in header", "HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok", false},
	{"bare LF at the end", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok", false},
	{"CR in value", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 2\r\n\r\nok", false},
	{"CRCRLF", "HTTP/1.1 200 OK\r\nX: a\r\r\nContent-Length: 2\r\n\r\nok", false},
	{"NUL in value", "HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nok", false},
	{"NUL in reason", "HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok", false},
	{"DEL in value", "HTTP/1.1 200 OK\r\nX: a\x7fb\r\nContent-Length: 2\r\n\r\nok", false},
	{"non-ASCII value", "HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", false},
	{"non-ASCII key", "HTTP/1.1 200 OK\r\nX\xc3\xa9: 1\r\nContent-Length: 2\r\n\r\nok", false},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false},
	{"space in key", "HTTP/1.1 200 OK\r\nX Y: 1\r\nContent-Length: 2\r\n\r\nok", false},
	{"empty key", "HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 2\r\n\r\nok", false},
	{"no colon", "HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\nok", false},
	{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 2\r\n\r\nok", false},
	{"tab fold", "HTTP/1.1 200 OK\r\nX: a\r\n\tfolded\r\nContent-Length: 2\r\n\r\nok", false},
	{"leading space", "HTTP/1.1 200 OK\r\n Content-Length: 2\r\n\r\nok", false},
	{"connection list", "HTTP/1.1 200 OK\r\nConnection: close, x\r\nContent-Length: 2\r\n\r\nok", false},
	{"connection twice", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false},
	{"connection upgrade", "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 2\r\n\r\nok", false},
	{"no end", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
	{"no end of status", "HTTP/1.1 200 OK", false},
	{"huge header", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 2\r\n\r\nok", false},
	{"header just over the buffer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: " + strings.Repeat("a", 4096-42) + "\r\n\r\nok", false},
	{"header filling the buffer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: " + strings.Repeat("a", 4096-43) + "\r\n\r\nok", true},
	{"65 fields", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + strings.Repeat("X: 1\r\n", 64) + "\r\nok", false},
	{"64 fields", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + strings.Repeat("X: 1\r\n", 63) + "\r\nok", true},
	{"repeated key", "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nContent-Length: 2\r\n\r\nok", true},
	{"repeated key in another case", "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok", true},
	{"16 keys, the last repeating the first", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + manyKeys(14) + "X-0: again\r\n\r\nok", true},
	{"17 keys, all different", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + manyKeys(16) + "\r\nok", true},
	{"17 keys, the last repeating the first", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + manyKeys(15) + "X-0: again\r\n\r\nok", true},
	{"tabs in values", "HTTP/1.1 200 OK\r\nX: \ta\tb\t\t\tc\td\t\r\nY: 0123456\t89abcdef\t\r\nContent-Length: 2\r\n\r\nok", true},
	{"DEL after eight bytes", "HTTP/1.1 200 OK\r\nX: 01234567\x7f9\r\nContent-Length: 2\r\n\r\nok", false},
	{"non-ASCII after a tab", "HTTP/1.1 200 OK\r\nX: 0123\t5678\x80\r\nContent-Length: 2\r\n\r\nok", false},
}

// manyKeys returns n field lines of different keys, X-0 to X-(n-1).
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-%d: %d\r\n", i, i)
	}
	return b.String()
}

// TestTextEndEveryByte puts each byte value at each place of buffers of
// lengths around the eight-byte steps, alone and after a tab, and checks
// textEnd against the byte-at-a-time rule, from several starts.
func TestTextEndEveryByte(t *testing.T) {
	bytewise := func(buf []byte, i int) int {
		for ; i < len(buf) && textByte[buf[i]]; i++ {
		}
		return i
	}
	for n := 1; n <= 25; n++ {
		for pos := 0; pos < n; pos++ {
			for tab := -1; tab < pos; tab++ {
				for b := 0; b < 256; b++ {
					buf := []byte(strings.Repeat("a", n))
					if tab >= 0 {
						buf[tab] = '\t'
					}
					buf[pos] = byte(b)
					for _, from := range []int{0, 1, 7} {
						if from > n {
							continue
						}
						if got, want := textEnd(buf, from), bytewise(buf, from); got != want {
							t.Fatalf("textEnd(%q, %d) = %d, want %d", buf, from, got, want)
						}
					}
				}
			}
		}
	}
}

func TestParseResponseMatchesReadResponse(t *testing.T) {
	for _, tc := range respCases {
		data := []byte(tc.data)
		at := read{err: io.EOF, method: "GET", closeAfter: -1}
		if got := differential(t, data, at); got != tc.fast {
			t.Errorf("%s: parseResponse accepted it: %v, want %v", tc.name, got, tc.fast)
		}
		// Other ways of reading it: in small reads, ending in an error,
		// closed early, for HEAD, without a request.
		for _, rd := range []read{
			{sizes: []byte{1}, err: io.EOF, method: "GET", closeAfter: -1},
			{sizes: []byte{7, 0, 3}, err: errWire, errWithData: true, method: "GET", closeAfter: -1},
			{err: errWire, closeAfter: -1},
			{err: io.EOF, errWithData: true, method: "GET", closeAfter: 0},
			{sizes: []byte{40, 1}, err: io.EOF, method: "POST", closeAfter: 1},
			{err: io.EOF, method: "HEAD", closeAfter: -1},
		} {
			differential(t, data, rd)
		}
	}
}

// A header block split over reads is declined until it is all buffered;
// so is any answer to a HEAD request.
func TestParseResponseDeclines(t *testing.T) {
	data := []byte(respCases[0].data)
	if differential(t, data, read{sizes: []byte{30}, err: io.EOF, method: "GET", closeAfter: -1}) {
		t.Error("accepted a header not all buffered")
	}
	if differential(t, data, read{err: io.EOF, method: "HEAD", closeAfter: -1}) {
		t.Error("accepted the answer to a HEAD")
	}
}

// The header's strings must not share the reader's buffer, which the next
// answer overwrites.
func TestParseResponseCopiesStrings(t *testing.T) {
	for _, first := range []string{
		"HTTP/1.1 201 Created\r\nX-A: one\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 201 Created\r\nx-a: one\r\nContent-Length: 2\r\n\r\nok", // canonicalized
	} {
		second := "HTTP/1.1 404 Whatever\r\nX-B: two\r\nContent-Length: 3\r\n\r\nnot"
		br := bufio.NewReaderSize(&wire{data: []byte(first + second), sizes: []byte{byte(len(first))}, err: io.EOF}, 16<<10)
		r1, ok, err := parseResponse(br, nil)
		if !ok || err != nil {
			t.Fatalf("first: %v %v", ok, err)
		}
		io.Copy(io.Discard, r1.Body)
		r2, ok, err := parseResponse(br, nil)
		if !ok || err != nil {
			t.Fatalf("second: %v %v", ok, err)
		}
		io.Copy(io.Discard, r2.Body)
		if r1.Status != "201 Created" || r1.Header.Get("X-A") != "one" || len(r1.Header) != 2 {
			t.Errorf("first answer changed by the second: %q %v", r1.Status, r1.Header)
		}
		if r2.Status != "404 Whatever" || r2.Header.Get("X-B") != "two" {
			t.Errorf("second answer: %q %v", r2.Status, r2.Header)
		}
	}
}

// An append to one key's values must not overwrite another's.
func TestParseResponseValuesDoNotAlias(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n"))
	resp, ok, err := parseResponse(br, nil)
	if !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	_ = append(resp.Header["A"], "x")
	if got := resp.Header["B"]; len(got) != 1 || got[0] != "2" {
		t.Errorf("B = %q after an append to A", got)
	}
}

// The common answer costs few allocations: the response with its body, the
// header map and one string for the whole header.
func TestParseResponseAllocs(t *testing.T) {
	data := []byte(respCases[0].data)
	r := bytes.NewReader(data)
	br := bufio.NewReader(r)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(data)
		br.Reset(r)
		resp, ok, err := parseResponse(br, nil)
		if !ok || err != nil {
			t.Fatalf("%v %v", ok, err)
		}
		io.Copy(io.Discard, resp.Body)
	})
	if allocs > 4 {
		t.Errorf("%v allocations, want at most 4", allocs)
	}
}

// FuzzParseResponse holds parseResponse to http.ReadResponse on arbitrary
// bytes, read in reads of arbitrary sizes (chunks), ended by io.EOF or
// another error, for GET or HEAD, its body read to the end or closed early:
// see differential.
func FuzzParseResponse(f *testing.F) {
	for _, tc := range respCases {
		f.Add([]byte(tc.data), []byte(nil), uint8(0))
	}
	for _, s := range conformanceSeeds {
		f.Add([]byte(s), []byte{5, 0, 100}, uint8(2))
	}
	f.Add([]byte(respCases[0].data), []byte{50, 200}, uint8(4|8))
	f.Fuzz(func(t *testing.T, data, chunks []byte, mode uint8) {
		rd := read{sizes: chunks, err: io.EOF, method: "GET", closeAfter: -1}
		if mode&1 != 0 {
			rd.method = "HEAD"
		}
		if mode&2 != 0 {
			rd.err = errWire
		}
		if mode&4 != 0 {
			rd.errWithData = true
		}
		if mode&8 != 0 {
			rd.closeAfter = int(mode >> 4)
		}
		differential(t, data, rd)
	})
}

// BenchmarkReadResponse compares readResponse with http.ReadResponse on
// answers of a Go server and of a proxy sending lower-case keys, their
// bodies read.
func BenchmarkReadResponse(b *testing.B) {
	answers := []struct{ name, data string }{
		{"go", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 03 Dec 2026 23:55:36 GMT\r\nContent-Length: 12\r\n\r\nhello, world"},
		{"proxy", "HTTP/1.1 200 OK\r\nserver: envoy\r\ndate: Thu, 03 Dec 2026 23:55:36 GMT\r\ncontent-type: application/json\r\ncontent-length: 12\r\nx-envoy-upstream-service-time: 3\r\nvary: Accept-Encoding\r\ncache-control: no-store\r\n\r\nhello, world"},
	}
	for _, a := range answers {
		for _, p := range []struct {
			name string
			read func(*bufio.Reader, *http.Request) (*http.Response, error)
		}{{"h1", func(br *bufio.Reader, req *http.Request) (*http.Response, error) {
			return readResponse(br, &headerTap{}, req) // answers parseResponse reads: no tap
		}}, {"ReadResponse", http.ReadResponse}} {
			b.Run(a.name+"/"+p.name, func(b *testing.B) {
				data := []byte(a.data)
				r := bytes.NewReader(data)
				br := bufio.NewReader(r)
				req := &http.Request{Method: "GET"}
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(data)
					br.Reset(r)
					resp, err := p.read(br, req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
				}
			})
		}
	}
}

// The header limit counts the bytes of informational answers and of the
// final header alike, whichever of parseResponse and http.ReadResponse
// reads the final one: a header of exactly maxHeaderBytes is read, one a
// byte longer fails with errHeaderTooLarge.
func TestHeaderLimitIsExact(t *testing.T) {
	const final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
	early := func(pad int) string {
		return "HTTP/1.1 103 Early Hints\r\nLink: " + strings.Repeat("a", pad) + "\r\n\r\n"
	}
	overhead := len(early(0))
	for _, over := range []int{0, 1} {
		var b strings.Builder
		left := maxHeaderBytes + over - len(final)
		for left >= 2*(overhead+2000) {
			b.WriteString(early(2000))
			left -= overhead + 2000
		}
		pad := (left - 2*overhead) / 2
		b.WriteString(early(pad))
		b.WriteString(early(left - 2*overhead - pad))
		b.WriteString(final)
		if b.Len() != maxHeaderBytes+over {
			t.Fatalf("header of %d bytes, want %d", b.Len(), maxHeaderBytes+over)
		}
		url, _ := rawServer(t, replies(b.String()+"ok"))
		tr, _ := newTransport(t)
		resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if over > 0 {
			if !errors.Is(err, errHeaderTooLarge) {
				t.Errorf("%d bytes over: err %v, want errHeaderTooLarge", over, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("header of exactly maxHeaderBytes: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" || err != nil {
			t.Errorf("body %q, %v", body, err)
		}
	}
}

// A round trip whose answer parseResponse reads allocates no more than
// parseResponse does: the round trip's wrapper of the body takes the room
// the parsed response keeps for it, and a lean context (the gateway's)
// is watched without allocating.
func TestRoundTripAllocs(t *testing.T) {
	url, _ := rawServer(t, cannedGETs("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world"))
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx := leanctx.WithCancel(context.Background())
	defer ctx.Cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	do := func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do() // the connection is dialed and pooled
	if allocs := testing.AllocsPerRun(100, do); allocs > 4 {
		t.Errorf("%v allocations a round trip, want at most parseResponse's 4", allocs)
	}
}

// TestParseResponseRepeatedNames: parseResponse's header is ReadResponse's
// when names repeat, in any case, and when different names share a
// fieldname.Bit (the second is then looked up before it is stored).
func TestParseResponseRepeatedNames(t *testing.T) {
	names := []string{"Content-Type", "Date", "Server", "Vary", "Etag", "Set-Cookie", "X-A", "X-B", "X-Cache", "Via", "Age", "Link", "Expires"}
	var a, b string
	for i, k := range names {
		for _, l := range names[i+1:] {
			if fieldname.Bit(k) == fieldname.Bit(l) {
				a, b = k, l
			}
		}
	}
	if a == "" {
		t.Fatal("no two names share a fieldname.Bit: the lookup after a shared bit is untested")
	}
	for _, head := range []string{
		a + ": 1\r\n" + b + ": 2\r\n" + strings.ToLower(a) + ": 3\r\n",
		"Set-Cookie: a=1\r\nVary: x\r\nset-cookie: b=2\r\nSet-Cookie: c=3\r\n",
	} {
		data := "HTTP/1.1 200 OK\r\n" + head + "Content-Length: 2\r\n\r\nok"
		if !differential(t, []byte(data), read{err: io.EOF, method: "GET", closeAfter: -1}) {
			t.Errorf("parseResponse did not read %q", data)
		}
	}
}
