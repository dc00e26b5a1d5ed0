package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/internal/fieldname"
)

// readFastSeeds are requests readFast reads, and requests it must leave to
// http.ReadRequest: smuggling attempts, malformed lines, targets it does not
// decode, framings it does not read.
var readFastSeeds = []string{
	"GET /v1/items/42 HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: application/json\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a?b=c&d=%20e HTTP/1.1\r\nhost: x\r\naccept: a\r\nACCEPT: b\r\nx-empty:\r\nX-Spaced: \t v \t \r\nCookie: a=b\r\ncookie: c=d\r\n\r\n",
	"GET /a? HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a?? HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a?b? HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /? HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET //x HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /../a/./b HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a:b;c,d=e@f$g&h+i~j_k-l.m HTTP/1.1\r\nHost: x\r\n\r\n",
	"DELETE /x HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\n\r\n",
	"POST /x HTTP/1.1\r\nHost: x\r\ncontent-length:0\r\nConnection: keep-alive, close\r\n\r\nGET / HTTP/1.1\r\n",
	"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	"BREW /pot HTTP/1.1\r\nHost: x\r\nX-1: a\r\n-x: b\r\n!#$%&'*+-.^_`|~: c\r\nTrailer: X-T\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nHOST: y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost:\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nX: y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
	"GET /a?b#c HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a#c HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /%2e%2e/ HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a!b HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /?\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET http://x/a HTTP/1.1\r\nHost: y\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"CONNECT /rpc HTTP/1.1\r\nHost: x\r\n\r\n",
	"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\nHost: x\n\n",
	"GET / HTTP/1.1\r\nHost: x\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\n",
	"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: \xff\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-A : y\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX(y): z\r\n\r\n",
	"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
	"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nshort",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 000000000000000007\r\n\r\n1234567",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775807\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n" + strings.Repeat("b", 5000),
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: v\r\n", 70) + "\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: v\r\nx-other: w\r\n", 5) + "\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\r",
	"GET / HTTP/1.1",
	"",
}

// readByBoth reads input with readFast's parts, through a reader that
// returns at most chunk bytes per call (all of them if chunk is 0), and
// with http.ReadRequest from another; each gets the same context: that of
// the block readFast's parts are given, made under ctx. It
// returns both requests and how many bytes each consumed, and the reader
// readFast's parts read; fast is nil if readFast left the request to
// http.ReadRequest.
func readByBoth(input []byte, chunk int, ctx context.Context) (fast, ref *http.Request, fastN, refN int, br *bufio.Reader, refErr error) {
	src := &chunkReader{b: input, chunk: chunk}
	br = bufio.NewReaderSize(src, 4096)
	var h fastHead
	blk := testBlock(ctx)
	ctx = &blk.ctx
	if _, err := br.Peek(1); err == nil {
		buf, _ := br.Peek(br.Buffered())
		if h.scan(buf) {
			fast = h.read(blk, br, buf)
			fastN = len(input) - len(src.b) - br.Buffered()
		}
	}

	src2 := &chunkReader{b: input, chunk: chunk}
	br2 := bufio.NewReaderSize(src2, 4096)
	ref, refErr = http.ReadRequest(br2)
	if refErr == nil {
		ref = ref.WithContext(ctx)
	}
	refN = len(input) - len(src2.b) - br2.Buffered()
	return fast, ref, fastN, refN, br, refErr
}

// chunkReader returns at most chunk bytes of b per Read.
type chunkReader struct {
	b     []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if r.chunk > 0 && len(p) > r.chunk {
		p = p[:r.chunk]
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// diffRequests describes how two requests differ in what a handler can see
// of them, and in what the server checks of them, or returns "": a is
// readFast's, b http.ReadRequest's. head is the
// raw header both were read from. Their bodies are read and compared when
// bodies is set.
func diffRequests(a, b *http.Request, head []byte, bodies bool) string {
	var diffs []string
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		x, y := va.Field(i), vb.Field(i)
		switch f.Name {
		case "Body":
			if !bodies {
				continue
			}
			if d := diffBodies(a.Body, b.Body); d != "" {
				diffs = append(diffs, "Body: "+d)
			}
			continue
		case "GetBody", "Cancel":
			if x.IsNil() != y.IsNil() {
				diffs = append(diffs, f.Name+" differs in being nil")
			}
			continue
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: %#v != %#v", f.Name, x.Interface(), y.Interface()))
		}
	}
	for k, va := range a.Header {
		if vb := b.Header[k]; cap(va) != cap(vb) {
			diffs = append(diffs, fmt.Sprintf("Header[%q] has capacity %d != %d", k, cap(va), cap(vb)))
		}
	}
	if a.Context() != b.Context() {
		diffs = append(diffs, "the contexts differ")
	}
	sa, da := check(a, true) // a is readFast's: the server does not check its names again
	sb, db := check(b, false)
	if sa != sb || da != db {
		diffs = append(diffs, fmt.Sprintf("check: %d %q != %d %q", sa, da, sb, db))
	}
	if fa, fb := framingOf(a, head), framingOf(b, head); fa != fb {
		diffs = append(diffs, fmt.Sprintf("framing: %d != %d", fa, fb))
	}
	return strings.Join(diffs, "\n")
}

// diffBodies compares two request bodies: both http.NoBody, or neither and
// the same bytes to their ends.
func diffBodies(a, b io.ReadCloser) string {
	if (a == http.NoBody) != (b == http.NoBody) || (a == nil) != (b == nil) {
		return fmt.Sprintf("%T != %T", a, b)
	}
	if a == http.NoBody || a == nil {
		return ""
	}
	ba, ea := io.ReadAll(a)
	bb, eb := io.ReadAll(b)
	if !bytes.Equal(ba, bb) || (ea == nil) != (eb == nil) {
		return fmt.Sprintf("%q (%v) != %q (%v)", ba, ea, bb, eb)
	}
	return ""
}

// testContext is a request context as the server makes one.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), http.LocalAddrContextKey, "local"))
	t.Cleanup(cancel)
	return ctx
}

// checkReadFast holds readFast to http.ReadRequest on input: if it reads
// the request, it must read it as http.ReadRequest does, and consume as
// many bytes. It reports whether readFast read it.
func checkReadFast(t *testing.T, input []byte, chunk int) bool {
	t.Helper()
	ctx := testContext(t)
	fast, ref, fastN, refN, br, refErr := readByBoth(input, chunk, ctx)
	if fast == nil {
		return false
	}
	if refErr != nil {
		t.Fatalf("input %q (chunk %d): readFast read it; http.ReadRequest: %v", input, chunk, refErr)
	}
	if fastN != refN {
		t.Errorf("input %q (chunk %d): readFast consumed %d bytes, http.ReadRequest %d", input, chunk, fastN, refN)
	}
	if d := diffRequests(fast, ref, input[:refN], true); d != "" {
		t.Errorf("input %q (chunk %d): readFast's request differs from http.ReadRequest's:\n%s", input, chunk, d)
	}
	// What the reader buffers next overwrites what it held: nothing of the
	// request may change.
	br.Reset(bytes.NewReader(bytes.Repeat([]byte{0xff}, 8192)))
	br.Peek(4096)
	if d := diffRequests(fast, ref, input[:refN], false); d != "" {
		t.Errorf("input %q (chunk %d): once the reader's buffer was overwritten, readFast's request differs from http.ReadRequest's:\n%s", input, chunk, d)
	}
	return true
}

// FuzzReadFast is a differential test of readFast against http.ReadRequest:
// whenever readFast reads a request, it must be http.ReadRequest's in every
// field a handler sees, in what the server checks of it, and in the bytes
// consumed; and none of its strings may change when the reader's buffer is
// overwritten. The second value limits the bytes each read of the
// connection brings, so that headers come in parts. Each input is tried as
// it is and framed as a request (see frameRequest), so that the fuzzer
// spends its time in the requests readFast might read.
func FuzzReadFast(f *testing.F) {
	for _, s := range readFastSeeds {
		f.Add([]byte(s), uint16(0))
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(0))
	}
	f.Add([]byte(readFastSeeds[0]), uint16(30))
	f.Add([]byte("v1/items/42?x=y\nUser-Agent: bench\naccept: application/json\nConnection: close"), uint16(0))
	f.Fuzz(func(t *testing.T, input []byte, chunk uint16) {
		checkReadFast(t, input, int(chunk))
		checkReadFast(t, frameRequest(input), int(chunk))
	})
}

// frameRequest makes a request of input: its first line is the target,
// after "GET /", and its other lines, with CRLF line ends, are field lines,
// after a Host field; then an empty line, and one more CRLF.
func frameRequest(input []byte) []byte {
	target, fields, _ := bytes.Cut(input, []byte("\n"))
	out := append([]byte("GET /"), target...)
	out = append(out, " HTTP/1.1\r\nHost: x\r\n"...)
	if len(fields) > 0 {
		out = append(out, bytes.ReplaceAll(fields, []byte("\n"), []byte("\r\n"))...)
		out = append(out, "\r\n"...)
	}
	return append(out, "\r\n\r\n"...)
}

// TestReadFast says which requests readFast reads, and holds each to
// http.ReadRequest's reading.
func TestReadFast(t *testing.T) {
	fast := map[string]bool{
		readFastSeeds[0]:                    true,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n": true,
		"GET /a?b=c&d=%20e HTTP/1.1\r\nhost: x\r\naccept: a\r\nACCEPT: b\r\nx-empty:\r\nX-Spaced: \t v \t \r\nCookie: a=b\r\ncookie: c=d\r\n\r\n": true,
		"GET /a? HTTP/1.1\r\nHost: x\r\n\r\n":                                                                                    true,
		"GET /a?? HTTP/1.1\r\nHost: x\r\n\r\n":                                                                                   true,
		"GET /a?b? HTTP/1.1\r\nHost: x\r\n\r\n":                                                                                  true,
		"GET /? HTTP/1.1\r\nHost: x\r\n\r\n":                                                                                     true,
		"GET //x HTTP/1.1\r\nHost: x\r\n\r\n":                                                                                    true,
		"GET /../a/./b HTTP/1.1\r\nHost: x\r\n\r\n":                                                                              true,
		"GET /a:b;c,d=e@f$g&h+i~j_k-l.m HTTP/1.1\r\nHost: x\r\n\r\n":                                                             true,
		"DELETE /x HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\n\r\n":                                                      true,
		"POST /x HTTP/1.1\r\nHost: x\r\ncontent-length:0\r\nConnection: keep-alive, close\r\n\r\nGET / HTTP/1.1\r\n":             true,
		"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":                                                                true,
		"BREW /pot HTTP/1.1\r\nHost: x\r\nX-1: a\r\n-x: b\r\n!#$%&'*+-.^_`|~: c\r\nTrailer: X-T\r\nExpect: 100-continue\r\n\r\n": true,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc":                                                             true,
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n":                          true,
		"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nshort":                                  true,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 000000000000000007\r\n\r\n1234567":                                        true,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n":                                                               true,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n" + strings.Repeat("b", 5000):            true,
		"GET / HTTP/1.1\r\nHost:\r\n\r\n":                                                                                        true, // refused by check, as after http.ReadRequest
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n":                                                                                    true, // likewise
		"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: v\r\nx-other: w\r\n", 5) + "\r\n":                              true,
	}
	if framed := frameRequest([]byte("a?b\nX: y")); !checkReadFast(t, framed, 0) {
		t.Errorf("readFast does not read %q, which FuzzReadFast frames", framed)
	}
	for _, s := range readFastSeeds {
		for _, chunk := range []int{0, 1, 7, 64} {
			got := checkReadFast(t, []byte(s), chunk)
			// Read in parts, the header is not all buffered at first.
			want := fast[s] && (chunk == 0 || chunk >= strings.Index(s, "\r\n\r\n")+4)
			if got != want {
				t.Errorf("input %q (chunk %d): read by readFast: %v, want %v", s, chunk, got, want)
			}
		}
	}
}

// TestPathByte holds pathByte to net/url: a byte readFast takes in a path
// is kept as it is, with no RawPath, and each other printable byte but "?"
// is not, or is decoded, or refused.
func TestPathByte(t *testing.T) {
	for c := 0x21; c < 0x7f; c++ {
		if c == '?' {
			continue
		}
		raw := "/a" + string(rune(c)) + "b"
		u, err := url.ParseRequestURI(raw)
		kept := err == nil && u.Path == raw && u.RawPath == "" && u.RawQuery == "" && !u.ForceQuery
		if kept != pathByte[c] {
			t.Errorf("%q: kept by url.ParseRequestURI: %v; in pathByte: %v", raw, kept, pathByte[c])
		}
	}
}

// TestReadFastOwnsItsStrings proves that a request readFast read keeps its
// strings when the buffer it was read from is overwritten by the next
// request, field names given in lower case included.
func TestReadFastOwnsItsStrings(t *testing.T) {
	input := "PUT /p/q?r=s HTTP/1.1\r\nhost: h.test\r\nx-custom-name: v1\r\nX-Other: v2\r\n\r\n"
	buf := make([]byte, 4096)
	br := bufio.NewReaderSize(bytes.NewReader([]byte(input)), len(buf))
	b, _ := br.Peek(len(input))
	var h fastHead
	if !h.scan(b) {
		t.Fatal("readFast does not read the request")
	}
	req := h.read(testBlock(context.Background()), br, b)
	br.Reset(strings.NewReader(strings.Repeat("Z", 4096)))
	if b, _ := br.Peek(len(input)); string(b) != strings.Repeat("Z", len(input)) {
		t.Fatal("the buffer was not overwritten")
	}
	got := fmt.Sprint(req.Method, " ", req.RequestURI, " ", req.URL.Path, " ", req.URL.RawQuery, " ", req.Host, " ", req.Header)
	want := "PUT /p/q?r=s /p/q r=s h.test map[X-Custom-Name:[v1] X-Other:[v2]]"
	if got != want {
		t.Errorf("after the buffer was overwritten:\n got %s\nwant %s", got, want)
	}
}

// TestServerReadsFast proves that the server serves a request readFast read
// as one http.ReadRequest read: the handler sees the same request, with its
// remote address and the server's context values, and the connection's
// next request is read where the first ended.
func TestServerReadsFast(t *testing.T) {
	seen := make(chan string, 3)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, local := r.Context().Value(http.LocalAddrContextKey).(interface{ String() string })
		body, err := io.ReadAll(r.Body)
		seen <- fmt.Sprint(r.Method, " ", r.URL, " ", r.Host, " ", r.Header, " ", r.RemoteAddr != "", " ", local,
			" ", r.Body == http.NoBody, " ", r.ContentLength, " ", string(body), " ", err)
	}))
	out, err := exchange(ts.addr, []byte("GET /a?b HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"+
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
		"DELETE /c HTTP/1.1\r\nHost: y\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(out)
	if n := strings.Count(raw, "HTTP/1.1 200 OK"); n != 3 {
		t.Fatalf("%d answers of 200, want 3:\n%s", n, raw)
	}
	for _, want := range []string{
		"GET /a?b x map[X-A:[1]] true true true 0  <nil>",
		"POST /p x map[Content-Length:[5]] true true false 5 hello <nil>",
		"DELETE /c y map[Connection:[close] Content-Length:[0]] true true true 0  <nil>",
	} {
		if got := <-seen; got != want {
			t.Errorf("the handler saw %q, want %q", got, want)
		}
	}
}

// BenchmarkReadHeader measures reading the benchmark's request, with its
// context, by readFast's parts and by http.ReadRequest and the copy that
// gives it its context.
func BenchmarkReadHeader(b *testing.B) {
	input := []byte(readFastSeeds[0])
	src := bytes.NewReader(input)
	br := bufio.NewReaderSize(src, 4096)
	ctx := context.Background()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(input)
			br.Reset(src)
			var h fastHead
			buf, _ := br.Peek(len(input))
			if !h.scan(buf) {
				b.Fatal("not read")
			}
			benchSink = h.read(testBlock(ctx), br, buf)
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(input)
			br.Reset(src)
			req, err := http.ReadRequest(br)
			if err != nil {
				b.Fatal(err)
			}
			benchSink = req.WithContext(ctx)
		}
	})
}

// benchSink keeps a benchmark's result alive, as a handler would.
var benchSink *http.Request

// testBlock makes the block of a request read in a test, under ctx, as
// conn.newBlock does under the connection's context.
func testBlock(ctx context.Context) *reqBlock {
	blk := new(reqBlock)
	blk.ctx.Init(ctx, time.Time{})
	return blk
}

// TestValueEnd holds valueEnd, eight bytes at a time, to its bytewise
// definition: every byte value at every position of a word and of the tail
// after it, from starts that leave the words at every alignment, and random
// buffers of value bytes with now and then one outside the range.
func TestValueEnd(t *testing.T) {
	for b := 0; b < 256; b++ {
		for p := 0; p < 20; p++ {
			buf := bytes.Repeat([]byte("a"), 20)
			buf[p] = byte(b)
			for start := 0; start < 4; start++ {
				if got, want := valueEnd(buf, start), valueEndBytewise(buf, start); got != want {
					t.Fatalf("byte %#x at %d, from %d: %d, want %d", b, p, start, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		buf := make([]byte, rng.IntN(40))
		for i := range buf {
			buf[i] = byte(' ' + rng.IntN(0x7f-' '))
			if rng.IntN(30) == 0 {
				buf[i] = byte(rng.IntN(256))
			}
		}
		start := 0
		if len(buf) > 0 {
			start = rng.IntN(len(buf))
		}
		if got, want := valueEnd(buf, start), valueEndBytewise(buf, start); got != want {
			t.Fatalf("%q from %d: %d, want %d", buf, start, got, want)
		}
	}
}

// TestBuildKeys: the header readFast builds is http.ReadRequest's when
// names repeat, in any case, and when different names share build's
// fieldname.Bit (then the second is looked up before it is stored); every common
// name comes out as commonKeys' own string (interned), and others as
// themselves; a Connection field of "close" in any of several lines closes.
func TestBuildKeys(t *testing.T) {
	var a, b string
	for i, k := range commonKeys {
		for _, l := range commonKeys[i+1:] {
			if k != "Host" && l != "Host" && fieldname.Bit(k) == fieldname.Bit(l) {
				a, b = k, l
			}
		}
	}
	if a == "" {
		t.Fatal("no two common names share a fieldname.Bit: the lookup after a shared bit is untested")
	}
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n" + a + ": 1\r\n" + b + ": 2\r\n" + strings.ToLower(a) + ": 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3\r\nX-A: 4\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nconnection: Close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: upgrade\r\n\r\n",
	} {
		if !checkReadFast(t, []byte(s), 0) {
			t.Errorf("readFast did not read %q", s)
		}
	}
	for _, k := range commonKeys {
		probe := string([]byte(k)) // equal, elsewhere in memory
		if got := internKey(probe); unsafe.StringData(got) != unsafe.StringData(k) {
			t.Errorf("internKey(%q) is not the common key's string", k)
		}
	}
	if got := internKey("X-Mine"); got != "X-Mine" {
		t.Errorf("internKey(X-Mine) = %q", got)
	}
	for _, m := range commonMethods {
		if got := internMethod(string([]byte(m))); unsafe.StringData(got) != unsafe.StringData(m) {
			t.Errorf("internMethod(%q) is not the common method's string", m)
		}
	}
	if got := internMethod("BREW"); got != "BREW" {
		t.Errorf("internMethod(BREW) = %q", got)
	}
}
