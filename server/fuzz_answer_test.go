package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzAnswer is FuzzRequest's other half: a differential test of what the
// two servers send for the same handler. A handler is a script the fuzzer
// writes (scriptOf): informational answers, a status, header fields set
// before the header goes out and after it (trailers, and changes that must
// not count), body writes of chosen sizes with flushes between them, and
// whether it reads the request's body. Each server runs the script for the
// same request, with a second request pipelined behind it, and the test
// compares, answer by answer, what a client reads (the status line, the
// header fields but Date's value, the body, the trailers, whether the body
// ended as its framing said), whether the connection was kept for the
// second request, and what the handler's writes returned. The handler's
// fields are set in the map as they come, not through Header.Set, so they
// can be what a careless handler or a hostile backend's answer passed on
// sets: invalid names, line breaks in values, framing fields that
// contradict the body.
//
// Known and intended differences are normalized (see compareScripted):
//
//   - Where net/http sends what its own client refuses to read (two
//     Content-Length fields that differ; the handler's Transfer-Encoding
//     and its own chunked one; a chunked answer whose Trailer field
//     announces Content-Length), this server sends what the handler meant
//     where it can tell (the first length; its own chunking; no
//     non-canonical copy of a framing field, such as "transfer-encoding",
//     which net/http sends beside its own framing, so that its client
//     reads the answer framed otherwise than it was), and the test only asks
//     that its answers be read, with the bytes the handler wrote as the
//     body. Every answer of this server must be read by http.ReadResponse,
//     whatever the handler did, unless net/http's answer is refused for
//     the same reason (a value with a control character, which both send
//     as the handler set it).
//   - This server holds 4096 bytes of a body before it chooses the framing,
//     net/http 2048 (its bufferBeforeChunkingSize). So a body that ends
//     with 2049 to 4096 bytes before its first flush, with no length
//     declared, goes with a Content-Length from this server and chunked
//     (or, to an HTTP/1.0 client, to the connection's end) from net/http.
//     For those, Content-Length and Transfer-Encoding are not compared, nor
//     whether the connection was kept.
//   - A handler that frames its answer in ways that contradict each other
//     (both Transfer-Encoding and Content-Length, a coding other than
//     chunked or identity, a framing field under a non-canonical name) gets
//     from each server an answer framed its own way, and its writes may
//     fail differently (net/http holds them to a Content-Length it does not
//     send): this server's answer is checked as in the first case, and not
//     compared.
//   - A Content-Length field the handler set that is no length (-1, abc)
//     is dropped by both; then net/http chunks the body, and this server
//     frames it as any body whose length was not declared (above). Those
//     are compared as the previous case.
//   - A Trailer field that names no trailer a client would take (an empty
//     one, or Content-Length) means trailers to net/http, which then sends
//     the body chunked for trailers that never come, and to an HTTP/1.0
//     client to the connection's end; this server frames the body as if
//     the field were not there. Compared as the previous cases.
//   - net/http sends the handler's Connection field with a 1xx answer;
//     this server never does (the connection's fate is the final answer's
//     to tell). It is not compared in 1xx answers.
//   - net/http sends 1xx answers to HTTP/1.0 clients, which RFC 9110
//     section 15.2 forbids and this server does not: they are dropped from
//     net/http's answers to such clients before the comparison.
func FuzzAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(s.flags, s.status, []byte(s.fields), []byte(s.writes), []byte(s.start), s.reqBody)
	}
	f.Fuzz(func(t *testing.T, flags uint8, status uint16, fields, writes, start []byte, reqBody uint16) {
		sc := scriptOf(flags, status, fields, writes, start, reqBody)
		ours, theirs := answerAddrs(t)
		a, errOurs := runScript(ours, sc)
		b, errTheirs := runScript(theirs, sc)
		if errOurs != nil || errTheirs != nil {
			t.Fatalf("script %s\nexchange with this server: %v\nexchange with net/http: %v", sc, errOurs, errTheirs)
		}
		if diff := compareScripted(sc, a, b); diff != "" {
			t.Fatalf("script %s\n%s\nthis server sent:\n%.1500q\nits handler's writes: %q\nnet/http sent:\n%.1500q\nits handler's writes: %q",
				sc, diff, a.raw, a.writes, b.raw, b.writes)
		}
	})
}

// answerSeeds start FuzzAnswer where answers go wrong: each framing
// field, invalid and conflicting ones, sizes at both servers' holds,
// statuses without a body, informational answers, trailers.
var answerSeeds = []struct {
	flags   uint8
	status  uint16
	fields  string // name:value entries separated by 0; a 1 starts the late ones
	writes  string // sizes (see writeSize); 0xff flushes
	start   string
	reqBody uint16
}{
	{0, 200, "", "\x40", "", 0},
	{flagStatus, 200, "Content-Type:text/plain", "\x10\x10", "hello", 0},
	{0, 0, "", "\x80", "", 0},                         // 2048 bytes: both hold them
	{0, 0, "", "\x81", "", 0},                         // a little over net/http's hold
	{0, 0, "", "\xb5", "", 0},                         // 4095 bytes
	{0, 0, "", "\xb6", "", 0},                         // over this server's hold
	{flagHTTP10, 0, "", "\x81", "", 0},                // close-delimited from net/http
	{flagHTTP10 | flagKeep, 0, "", "\x40\x40", "", 0}, // kept alive with a length
	{flagHTTP10 | flagKeep, 0, "", "\xb6", "", 0},
	{0, 0, "", "\x20\xff\x20", "", 0}, // flushed: chunked
	{flagHTTP10 | flagKeep, 0, "", "\x20\xff\x20", "", 0},
	{methodHEAD, 0, "", "\x40", "", 0},
	{methodHEAD, 0, "Content-Length:10", "", "", 0},
	{methodHEAD, 0, "", "\xb6", "", 0},
	{flagStatus, 204, "Content-Length:5", "\x10", "", 0},
	{flagStatus, 304, "Content-Type:text/html\x00Etag:\"x\"\x00Content-Length:40", "\x10", "", 0},
	{flagStatus, 103, "Link:</s.css>; rel=preload", "\x10", "", 0},
	{flagStatus | flagHTTP10, 103, "Link:</s.css>", "\x10", "", 0},
	{flagStatus, 100, "", "", "", 0},
	{flagStatus, 599, "", "\x08", "", 0},
	{flagStatus, 999, "", "", "", 0},
	// A Trailer field that names no trailer, set late: it goes out with
	// the header when no status or write sent it before (the known
	// difference in framing above, which noTrailerNamed must see there
	// too; found by the fuzzer), and is a late change to the map after one.
	{methodPOST | flagHTTP10, 0, "\x01Trailer:", "", "", 0},
	{0, 0, "\x01Trailer:", "", "", 0},
	{0, 0, "\x01Trailer:, ", "\x10", "", 0},
	{0, 0, "\x01Content-Length:-1", "", "", 0},
	{flagStatus, 103, "\x01Trailer:", "", "", 0},  // after a 103, still before the header
	{0, 0, "Content-Length:10", "\x08", "", 0},    // shorter than declared
	{0, 0, "Content-Length:3", "\x08\x08", "", 0}, // longer than declared
	{0, 0, "Content-Length:-1", "\x08", "", 0},
	{0, 0, "Content-Length:abc", "\x08", "", 0},
	{0, 0, "Content-Length:5\x00Content-Length:6", "\x08", "", 0},
	{0, 0, "Transfer-Encoding:chunked", "\x20", "", 0},
	{0, 0, "Transfer-Encoding:identity", "\x20", "", 0},
	{0, 0, "Transfer-Encoding:gzip", "\x20", "", 0},
	{0, 0, "Transfer-Encoding:chunked\x00Content-Length:8", "\x08", "", 0},
	{flagHTTP10 | flagKeep, 0, "Transfer-Encoding:chunked", "\x20", "", 0},
	{0, 0, "Connection:close", "\x20", "", 0},
	{0, 0, "Connection:keep-alive", "\x20", "", 0},
	{flagHTTP10 | flagKeep, 0, "Connection:close", "\x20", "", 0},
	{0, 0, "Connection:upgrade\x00Upgrade:websocket", "", "", 0},
	{0, 0, "Trailer:X-Sum, X-Other\x01X-Sum:42\x00X-Other:7\x00X-Undeclared:1", "\x20", "", 0},
	{0, 0, "\x01Trailer:Late-Declared\x00Trailer:X\x00X-Late:field", "\x20\xff", "", 0},
	{0, 0, "\x01" + http.TrailerPrefix + "X-Pre:1", "\x20", "", 0},
	{0, 0, "Trailer:Content-Length\x01Content-Length:5", "\x20", "", 0},
	{0, 0, "X-Split:a\r\nX-Injected: 1\x00X-Nl:a\nb\x00X-Pad: v \t", "\x08", "", 0},
	{0, 0, "Bad Name:v\x00:v\x00X-\xff:v\x00x-lower:v", "\x08", "", 0},
	// Framing fields under names that are not canonical: the servers look
	// them up canonical, a client reads them whatever their case.
	{0, 0, "content-length:3", "\x08", "", 0},
	{0, 0, "transfer-encoding:chunked", "\x08", "", 0},
	{0, 0, "connection:close", "\x08", "", 0},
	{0, 0, "CONTENT-LENGTH:100", "\x08", "", 0},
	{0, 0, "Content-Type:\x00Content-Encoding:gzip", "\x20", "<html>", 0},
	{0, 0, "Date:Mon, 02 Jan 2006 15:04:05 GMT", "", "", 0},
	{0, 0, "", "\x02\x02\x02\x20", "<!DOCTYPE html>", 0},
	{0, 0, "", "\x20", "\x89PNG\r\n\x1a\n", 0},
	{methodPOST, 0, "", "\x10", "", 10},
	{methodPOSTRead, 0, "", "\x10", "", 100},
	{methodPOST | flagExpect, 0, "", "\x10", "", 10},
	{methodPOSTRead | flagExpect, 0, "", "\x10", "", 10},
	{methodPOST | flagChunkedBody, 0, "", "\x10", "", 300},
	{methodPOST, 0, "", "\x10", "", 65000}, // past net/http's 256 KiB (see scriptOf)
	{methodPOST | flagClose, 0, "", "\x10", "", 20},
	// What FuzzAnswer found: a write that fits after one that overran
	// the declared length; a body too big to read past, from an HTTP/1.0
	// client that asked to keep the connection; a Trailer field naming no
	// trailer; a 1xx answer with the handler's Connection field; framing
	// fields that contradict each other; a length written "00".
	{0, 404, "Content-Length:70", "\x30\x10", "", 0},
	{methodPOST | flagHTTP10 | flagKeep, 0, "", "\x30", "", 65000},
	{methodPOST | flagHTTP10, 100, "Trailer:", "\x30", "", 0},
	{methodHEAD | flagClose | flagStatus, 100, "Connection:", "\x30", "", 0},
	{flagHTTP10 | flagKeep, 0, "Transfer-Encoding:0\x00Content-Length:0", "\x30", "", 0},
	{flagHTTP10, 133, "Content-Length:00", "\x30", "", 0},
	{0, 0, "TrAiLer:0", "\x41\x78", "", 0},
}

// The bits of FuzzAnswer's flags.
const (
	methodGET       = 0 // the low two bits: the method
	methodHEAD      = 1
	methodPOST      = 2 // with a body the handler leaves
	methodPOSTRead  = 3 // with a body the handler reads
	flagHTTP10      = 1 << 2
	flagKeep        = 1 << 3 // HTTP/1.0: Connection: keep-alive
	flagClose       = 1 << 4 // HTTP/1.1: Connection: close
	flagStatus      = 1 << 5 // the handler calls WriteHeader(status) first
	flagExpect      = 1 << 6 // POST: Expect: 100-continue
	flagChunkedBody = 1 << 7 // POST: a chunked body
)

// script is what a FuzzAnswer handler does, and the request it does it for.
type script struct {
	id     string
	method string
	http10 bool
	keep   bool // HTTP/1.0 keep-alive asked for
	close  bool
	expect bool

	reqBody     int
	chunkedBody bool
	readBody    bool

	status int // 0: no WriteHeader call
	fields [][2]string
	late   [][2]string // set after the writes
	writes []int       // byte counts; -1 flushes
	body   []byte      // what the writes take their bytes from, in order
}

// writeSize is the size of a write the byte b asks for: 0 to 8064, with
// b = 0x80 (2048) and 0xb5 (4095) at the two servers' holds.
func writeSize(b byte) int { return int(b) * int(b) / 8 }

var scriptIDs atomic.Uint64

func scriptOf(flags uint8, status uint16, fields, writes, start []byte, reqBody uint16) *script {
	sc := &script{id: strconv.FormatUint(scriptIDs.Add(1), 10)}
	sc.method = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPost}[flags&3]
	sc.readBody = flags&3 == methodPOSTRead
	sc.http10 = flags&flagHTTP10 != 0
	sc.keep = sc.http10 && flags&flagKeep != 0
	sc.close = !sc.http10 && flags&flagClose != 0
	if sc.method == http.MethodPost {
		sc.reqBody = int(reqBody)
		if sc.reqBody > 60000 {
			sc.reqBody = 300 << 10 // past net/http's 256 KiB of body it reads to keep a connection
		}
		sc.expect = flags&flagExpect != 0
		sc.chunkedBody = !sc.http10 && flags&flagChunkedBody != 0
	}
	if flags&flagStatus != 0 {
		// A status from 100 to 999 is itself, so that the seeds' read as
		// written; any other is moved into that range.
		sc.status = 100 + (int(status)+800)%900
		if sc.status == http.StatusSwitchingProtocols {
			sc.status = http.StatusOK // the connection would be the handler's
		}
	}
	early, late, _ := bytes.Cut(fields, []byte{1})
	sc.fields, sc.late = fieldsOf(early), fieldsOf(late)
	total := 0
	for _, b := range writes {
		if len(sc.writes) == 16 {
			break
		}
		if b == 0xff {
			sc.writes = append(sc.writes, -1)
			continue
		}
		sc.writes = append(sc.writes, writeSize(b))
		total += writeSize(b)
	}
	if len(start) > 1024 {
		start = start[:1024]
	}
	sc.body = append([]byte(nil), start...)
	for i := 0; len(sc.body) < total; i++ {
		sc.body = append(sc.body, "0123456789abcdefghijklmnopqrstuvwxyz\n"[i%37])
	}
	return sc
}

// fieldsOf splits entries separated by 0 bytes into names and values at
// their first colon.
func fieldsOf(b []byte) [][2]string {
	var out [][2]string
	for e := range bytes.SplitSeq(b, []byte{0}) {
		if len(e) == 0 || len(out) == 12 {
			continue
		}
		k, v, _ := bytes.Cut(e, []byte(":"))
		// Control characters other than line breaks and tabs make a value
		// that both servers send as it is and a strict client refuses
		// (compareScripted), which a framing the servers choose
		// differently would make look like a difference.
		v = bytes.Map(func(r rune) rune {
			if r < ' ' && r != '\t' && r != '\r' && r != '\n' || r == 0x7f {
				return '?'
			}
			return r
		}, v)
		out = append(out, [2]string{string(k), string(v)})
	}
	return out
}

func (sc *script) String() string {
	return fmt.Sprintf("{method %s, HTTP/1.0 %v, keep-alive %v, close %v, expect %v, request body %d (chunked %v, read %v), status %d, fields %q, late %q, writes %v, body start %.80q}",
		sc.method, sc.http10, sc.keep, sc.close, sc.expect, sc.reqBody, sc.chunkedBody, sc.readBody,
		sc.status, sc.fields, sc.late, sc.writes, sc.body)
}

// request is the script's request, and a second one pipelined behind it
// that asks the server to close the connection after answering.
func (sc *script) request() []byte {
	var b bytes.Buffer
	proto := "HTTP/1.1"
	if sc.http10 {
		proto = "HTTP/1.0"
	}
	fmt.Fprintf(&b, "%s /script/%s %s\r\nHost: x\r\n", sc.method, sc.id, proto)
	switch {
	case sc.keep:
		b.WriteString("Connection: keep-alive\r\n")
	case sc.close:
		b.WriteString("Connection: close\r\n")
	}
	if sc.expect {
		b.WriteString("Expect: 100-continue\r\n")
	}
	body := bytes.Repeat([]byte("q"), sc.reqBody)
	switch {
	case sc.method != http.MethodPost:
	case sc.chunkedBody:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if len(body) > 0 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(body), body)
		}
		b.WriteString("0\r\n\r\n")
	default:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	if sc.method != http.MethodPost {
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "GET /next %s\r\nHost: x\r\nConnection: close\r\n\r\n", proto)
	return b.Bytes()
}

// scripts are the scripts under way, by id: both servers' handlers find
// them there.
var scripts sync.Map // id → *script

// scriptHandler runs the script its request names, and keeps what the
// script's writes returned under the script's id and the server's tag.
func scriptHandler(tag string, results *sync.Map) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			io.WriteString(w, "next")
			return
		}
		v, ok := scripts.Load(strings.TrimPrefix(r.URL.Path, "/script/"))
		if !ok {
			http.Error(w, "no such script", http.StatusNotFound)
			return
		}
		sc := v.(*script)
		if sc.readBody {
			io.Copy(io.Discard, r.Body)
		}
		h := w.Header()
		for _, f := range sc.fields {
			h[f[0]] = append(h[f[0]], f[1])
		}
		if sc.status != 0 {
			w.WriteHeader(sc.status)
		}
		var got []string
		at := 0
		for _, n := range sc.writes {
			if n < 0 {
				got = append(got, fmt.Sprintf("flush %v", http.NewResponseController(w).Flush()))
				continue
			}
			m, err := w.Write(sc.body[at : at+n])
			at += n
			got = append(got, fmt.Sprintf("%d %v", m, err))
		}
		for _, f := range sc.late {
			h[f[0]] = append(h[f[0]], f[1])
		}
		results.Store(sc.id+"/"+tag, got)
	}
}

var answerServers struct {
	once         sync.Once
	ours, theirs string
	results      sync.Map
	err          error
}

// answerAddrs starts this server and net/http's, each running scripts,
// once per fuzzing process.
func answerAddrs(t *testing.T) (ours, theirs string) {
	s := &answerServers
	s.once.Do(func() {
		quiet := log.New(io.Discard, "", 0)
		s.ours, s.theirs, s.err = servePair(
			&Server{Handler: scriptHandler("ours", &s.results), ErrorLog: quiet},
			&http.Server{Handler: scriptHandler("theirs", &s.results), ErrorLog: quiet})
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.ours, s.theirs
}

// scripted is what one server did for a script: the bytes it sent, and
// what the handler's writes returned.
type scripted struct {
	raw    []byte
	writes []string
}

func runScript(addr string, sc *script) (scripted, error) {
	scripts.Store(sc.id, sc)
	defer scripts.Delete(sc.id)
	raw, err := exchange(addr, sc.request())
	tag := "ours"
	if addr == answerServers.theirs {
		tag = "theirs"
	}
	var writes []string
	if v, ok := answerServers.results.LoadAndDelete(sc.id + "/" + tag); ok {
		writes = v.([]string)
	}
	return scripted{raw: raw, writes: writes}, err
}

// readAnswer is one answer as a client reads it.
type readAnswer struct {
	status  string
	proto   string
	header  http.Header // without Date's value
	body    string
	bodyErr string
	trailer http.Header
}

// readAnswers reads the answers in raw, the first for a request of method,
// the rest for GETs, as http.ReadResponse does, 1xx answers included.
func readAnswers(raw []byte, method string) ([]readAnswer, string) {
	var out []readAnswer
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out, ""
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return out, "unparsable: " + err.Error()
		}
		a := readAnswer{status: resp.Status, proto: resp.Proto, header: resp.Header}
		if _, ok := a.header["Date"]; ok {
			a.header["Date"] = []string{"(present)"}
		}
		// A length is a number: net/http sends a handler's "007" as it is,
		// this server the number it read from it.
		if cl := a.header["Content-Length"]; len(cl) == 1 {
			if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil {
				a.header["Content-Length"] = []string{strconv.FormatInt(n, 10)}
			}
		}
		body, err := io.ReadAll(resp.Body)
		a.body = string(body)
		if err != nil {
			a.bodyErr = err.Error()
		}
		a.trailer = resp.Trailer
		out = append(out, a)
		if resp.StatusCode >= 200 {
			method = http.MethodGet
		}
		if err != nil {
			return out, ""
		}
	}
}

// compareScripted describes the first difference between this server's
// answers (a) and net/http's (b) to sc that is not a known one, or "".
func compareScripted(sc *script, a, b scripted) string {
	if !slices.Equal(a.writes, b.writes) && !sc.confusedFraming() {
		return fmt.Sprintf("the handler's writes returned %q here, %q on net/http", a.writes, b.writes)
	}
	ours, errOurs := readAnswers(a.raw, sc.method)
	theirs, errTheirs := readAnswers(b.raw, sc.method)
	switch {
	case errOurs != "" && errOurs == errTheirs:
		// A field value with a control character the handler set, which
		// both servers send as net/http does and a strict client refuses
		// (line breaks, which could end the header, go as spaces).
		return ""
	case errOurs != "":
		return fmt.Sprintf("reading this server's answers: %s (net/http's: %q)", errOurs, errTheirs)
	case errTheirs != "" || sc.confusedFraming():
		// net/http's client refuses what its server sent, or the handler
		// framed its answer in ways that contradict each other.
		return sc.checkWritten(ours, a.writes)
	}
	for i := range min(len(ours), len(theirs)) {
		if theirs[i].bodyErr != "" && ours[i].bodyErr == "" {
			return sc.checkWritten(ours, a.writes) // and here, net/http's body
		}
		if i == len(theirs)-1 && cutByReset(ours[i], theirs[i]) {
			return sc.checkWritten(ours, a.writes)
		}
	}
	if sc.http10 {
		theirs = slices.DeleteFunc(theirs, func(r readAnswer) bool { return strings.HasPrefix(r.status, "1") })
	}
	held := sc.heldDifferently() || sc.invalidLength() || sc.noTrailerNamed()
	if held && len(ours) == len(theirs)+1 && !slices.ContainsFunc(theirs, func(r readAnswer) bool { return r.bodyErr != "" }) {
		ours = ours[:len(theirs)] // kept by this server, which framed the answer whole
	}
	if len(ours) != len(theirs) {
		return fmt.Sprintf("%d answers here, %d from net/http", len(ours), len(theirs))
	}
	seenFinal := false
	for i := range ours {
		x, y := ours[i], theirs[i]
		first := !seenFinal && !strings.HasPrefix(x.status, "1") // the first final answer
		if first {
			seenFinal = true
		}
		if strings.HasPrefix(x.status, "1") {
			delete(y.header, "Connection")
		}
		if held && first {
			// Trailer too: http.ReadResponse takes it out of a chunked
			// answer's header, and leaves it in one with a length.
			for _, k := range []string{"Content-Length", "Transfer-Encoding", "Connection", "Trailer"} {
				delete(x.header, k)
				delete(y.header, k)
			}
			// And the trailers it announced, which never came.
			maps.DeleteFunc(x.trailer, func(_ string, vv []string) bool { return vv == nil })
			maps.DeleteFunc(y.trailer, func(_ string, vv []string) bool { return vv == nil })
		}
		switch {
		case x.status != y.status || x.proto != y.proto:
			return fmt.Sprintf("answer %d: %s %s here, %s %s from net/http", i, x.proto, x.status, y.proto, y.status)
		case !equalHeaders(x.header, y.header):
			return fmt.Sprintf("answer %d: header fields\n  here     %q\n  net/http %q", i, x.header, y.header)
		case x.body != y.body:
			return fmt.Sprintf("answer %d: a body of %d bytes here, %d from net/http", i, len(x.body), len(y.body))
		case x.bodyErr != y.bodyErr:
			return fmt.Sprintf("answer %d: reading the body failed with %q here, %q from net/http", i, x.bodyErr, y.bodyErr)
		case !equalHeaders(x.trailer, y.trailer):
			return fmt.Sprintf("answer %d: trailers\n  here     %q\n  net/http %q", i, x.trailer, y.trailer)
		}
	}
	return ""
}

// cutByReset says whether net/http's answer y, its last, is this server's
// x cut short by the reset of a close: delimited by the close, and a proper
// prefix of x. net/http closes on a request body it left unread (too large
// to discard) without draining it, and the reset can destroy the answer's
// end before the client read it; a body delimited by the close then reads
// as a shorter whole one (this server drains first: see lingerClose).
func cutByReset(x, y readAnswer) bool {
	_, length := y.header["Content-Length"]
	_, coded := y.header["Transfer-Encoding"]
	return !length && !coded && len(y.body) < len(x.body) && strings.HasPrefix(x.body, y.body)
}

func equalHeaders(x, y http.Header) bool {
	if len(x) != len(y) {
		return false
	}
	for k, vv := range x {
		if ww, ok := y[k]; !ok || !slices.Equal(vv, ww) {
			return false
		}
	}
	return true
}

// heldDifferently says whether the script's answer is one whose framing
// the servers' holds choose differently: a body with no declared length,
// of which 2049 to 4096 bytes are written before it ends or is flushed.
func (sc *script) heldDifferently() bool {
	for _, f := range sc.fields {
		if f[0] == "Content-Length" || f[0] == "Transfer-Encoding" || f[0] == "Trailer" || strings.HasPrefix(f[0], http.TrailerPrefix) {
			return false // a length, or chunks, whatever the hold
		}
	}
	if sc.status != 0 && !bodyAllowedForStatus(sc.status) && (sc.status < 100 || sc.status > 199) {
		return false
	}
	n := 0
	for _, w := range sc.writes {
		if w < 0 {
			break
		}
		n += w
	}
	return n > 2048 && n <= pendCap
}

// invalidLength says whether the handler set a Content-Length field whose
// first value is no length, which both servers drop.
func (sc *script) invalidLength() bool {
	for _, f := range sc.sentFields() {
		if f[0] == "Content-Length" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			return err != nil || n < 0
		}
	}
	return false
}

// checkWritten describes how this server's final answer to sc (in ours)
// does not carry the body bytes that the handler's writes, whose results
// are writes, took; or returns "".
func (sc *script) checkWritten(ours []readAnswer, writes []string) string {
	var want []byte
	at, i := 0, 0
	for _, n := range sc.writes {
		if n < 0 {
			i++
			continue
		}
		if i < len(writes) && writes[i] == fmt.Sprintf("%d <nil>", n) {
			want = append(want, sc.body[at:at+n]...)
		}
		at += n
		i++
	}
	for _, a := range ours {
		if strings.HasPrefix(a.status, "1") {
			continue
		}
		if sc.method == http.MethodHead || a.status == "204 No Content" || a.status == "304 Not Modified" {
			want = nil
		}
		// A body cut short (a handler that wrote less than the length it
		// declared) must still be what the handler wrote, as far as it goes.
		if a.body != string(want) && (a.bodyErr == "" || !strings.HasPrefix(string(want), a.body)) {
			return fmt.Sprintf("this server's answer has a body of %d bytes (error %q), want the %d the handler wrote", len(a.body), a.bodyErr, len(want))
		}
		return ""
	}
	return "this server sent no final answer"
}

// sentFields returns the fields the handler set before the header went
// out: the early ones, and the late ones too when no final status and no
// write (nor flush) sent the header before them, so that it went out as the
// handler returned (a 1xx status sends an informational answer, not the
// final header).
func (sc *script) sentFields() [][2]string {
	if sc.status < 200 && len(sc.writes) == 0 {
		return append(sc.fields[:len(sc.fields):len(sc.fields)], sc.late...)
	}
	return sc.fields
}

// noTrailerNamed says whether the handler set a Trailer field before the
// header went out, and none of its names is a trailer a client would take.
func (sc *script) noTrailerNamed() bool {
	seen := false
	for _, f := range sc.sentFields() {
		if f[0] != "Trailer" {
			continue
		}
		seen = true
		for name := range strings.SplitSeq(f[1], ",") {
			if name = strings.TrimSpace(name); name != "" && httpguts.ValidTrailerHeader(name) {
				return false
			}
		}
	}
	return seen
}

// confusedFraming says whether the handler framed its answer in ways that
// contradict each other: a framing field under a name that is not canonical
// ("content-length"), both Transfer-Encoding and Content-Length, or a
// Transfer-Encoding that is neither chunked nor identity.
func (sc *script) confusedFraming() bool {
	var te, cl bool
	for _, f := range append(sc.fields[:len(sc.fields):len(sc.fields)], sc.late...) {
		for _, name := range []string{"Content-Length", "Transfer-Encoding", "Connection"} {
			if f[0] != name && strings.EqualFold(f[0], name) {
				return true
			}
		}
	}
	for _, f := range sc.fields {
		switch f[0] {
		case "Content-Length":
			cl = true
		case "Transfer-Encoding":
			te = true
			if f[1] != "chunked" && f[1] != "identity" {
				return true
			}
		}
	}
	return te && cl
}
