package h1

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/fieldname"
)

// Reading a response header with http.ReadResponse costs a string per line,
// a string per field value and per uncommon key, a textproto.Reader and the
// framing state: about 10 allocations for a typical answer. In a profile of
// the gateway's default route, ReadResponse made about 16% of a proxied
// request's allocations, net/textproto's header parsing most of them.
// parseResponse reads the common answer (a status line, a few well-formed
// fields, a Content-Length) in one pass over the bytes already buffered,
// into the same *http.Response ReadResponse would return, with four
// allocations up to six field values; it declines anything else, without
// consuming a byte, and readResponse then calls ReadResponse.

// readResponse reads the answer to req from br, which reads from tap, as
// http.ReadResponse does: by parseResponse when it accepts the answer, else
// by ReadResponse. Two differences: an answer whose status is below 100 is
// refused, where ReadResponse takes it (see badStatus), and the answer's
// Connection fields are kept, where ReadResponse deletes them when they
// hold "close" (see connfield.go).
func readResponse(br *bufio.Reader, tap *headerTap, req *http.Request) (*http.Response, error) {
	if resp, ok, err := parseResponse(br, req); ok {
		return resp, err
	}
	tap.start(br)
	resp, err := http.ReadResponse(br, req)
	header := tap.stop()
	if err != nil {
		return nil, err
	}
	if badStatus(resp.StatusCode) {
		return nil, fmt.Errorf("h1: malformed HTTP status code in status line %q", resp.Status)
	}
	if err := keepConnection(resp, header); err != nil {
		return nil, err
	}
	return resp, nil
}

// badStatus reports whether code, read from a status line's three
// characters, is no HTTP status: ReadResponse reads "000", "099" or "+99"
// as 0 or 99, which no status is (RFC 9110, section 15: 100 to 599), which
// no ResponseWriter can write (WriteHeader panics below 100), and which a
// caller would take for neither a failure nor an answer to retry. Such an
// answer is a broken one, the backend's fault, as "2x0" is.
func badStatus(code int) bool { return code < 100 }

// Bounds of what parseResponse accepts.
const (
	// maxFastHeader bounds the header, status line and empty line
	// included: the default size of a bufio.Reader, as conn's.
	maxFastHeader = 4096
	// maxFastFields bounds the header's field lines.
	maxFastFields = 64
	// maxFastLength bounds the digits of a Content-Length, so that any
	// value accepted fits in an int64 as strconv.ParseUint(s, 10, 63)
	// requires.
	maxFastLength = 18
)

// field is a header field line within the header block: the key at
// [k, k+kn), the value, its blanks trimmed, at [v, v+vn).
type field struct {
	k, kn, v, vn uint16
}

// fastResponse is a response and its body in one allocation, with room
// for the value slices of a small header and for the connection's body
// (conn.go) that the round trip wraps body in.
type fastResponse struct {
	resp http.Response
	body fastBody
	wrap body
	vals [6]string
}

// parseResponse parses the response to req at the start of br when the
// whole header is buffered and is one it fully understands, which ok
// reports. When !ok it has consumed nothing, and the caller must read the
// response with http.ReadResponse; when ok the result, the response or the
// error, and the bytes consumed from br are those of http.ReadResponse,
// but that a "Connection: close" field is kept (see connfield.go).
//
// It accepts: a status line "HTTP/1.1 " or "HTTP/1.0 ", a status from 200 to
// 599 other than 204 and 304, and an optional reason of visible ASCII,
// spaces and tabs; field lines of a token, a colon and a value of visible
// ASCII, spaces and tabs; CRLF line ends; exactly one Content-Length of at
// most 18 digits; at most one Connection field, "close" or "keep-alive"; no
// Transfer-Encoding nor Trailer field; a request that is not HEAD. It
// declines everything else: 1xx, 204 and 304 answers, bodies delimited by
// chunks or the connection's close, obs-fold, bare LF, other bytes, keys
// with spaces, and a header not entirely buffered or over maxFastHeader
// bytes or maxFastFields fields.
func parseResponse(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool, err error) {
	if br.Buffered() == 0 {
		// ReadResponse's first read, the same one: its error is the one
		// ReadResponse would return, and bufio hands it out only once.
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, true, err
		}
	}
	if req != nil && req.Method == http.MethodHead {
		return nil, false, nil
	}
	n := min(br.Buffered(), maxFastHeader)
	buf, _ := br.Peek(n) // buffered: cannot fail

	// The status line: "HTTP/1.x DDD" then CRLF or a space and a reason.
	const sl = len("HTTP/1.1 200")
	if len(buf) < sl+2 || string(buf[:7]) != "HTTP/1." || buf[7] != '0' && buf[7] != '1' ||
		buf[8] != ' ' || !isDigit(buf[9]) || !isDigit(buf[10]) || !isDigit(buf[11]) {
		return nil, false, nil
	}
	code := int(buf[9]-'0')*100 + int(buf[10]-'0')*10 + int(buf[11]-'0')
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, false, nil
	}
	i := sl
	if buf[i] == ' ' {
		for i++; i < len(buf) && textByte[buf[i]]; i++ {
		}
	}
	if i+1 >= len(buf) || buf[i] != '\r' || buf[i+1] != '\n' {
		return nil, false, nil
	}
	statusEnd := i
	i += 2

	// The field lines, up to the empty line.
	var fields [maxFastFields]field
	nf := 0
	canonical := true // every key is in canonical form
	clf, conn, pragma := -1, -1, -1
	hasCC := false
	for {
		if i+1 >= len(buf) {
			return nil, false, nil // not all buffered, or too long
		}
		if buf[i] == '\r' && buf[i+1] == '\n' {
			i += 2
			break
		}
		if nf == maxFastFields {
			return nil, false, nil
		}
		k := i
		var keyCanonical bool
		i, keyCanonical = fieldname.Scan(buf, i)
		canonical = canonical && keyCanonical
		if i == k || i >= len(buf) || buf[i] != ':' {
			return nil, false, nil // an empty key, a space, obs-fold...
		}
		kn := i - k
		for i++; i < len(buf) && (buf[i] == ' ' || buf[i] == '\t'); i++ {
		}
		v := i
		i = textEnd(buf, i)
		if i+1 >= len(buf) || buf[i] != '\r' || buf[i+1] != '\n' {
			return nil, false, nil
		}
		ve := i
		for ve > v && (buf[ve-1] == ' ' || buf[ve-1] == '\t') {
			ve--
		}
		i += 2
		fields[nf] = field{uint16(k), uint16(kn), uint16(v), uint16(ve - v)}
		switch key := buf[k : k+kn]; {
		case named(key, keyCanonical, "Content-Length"):
			if clf >= 0 {
				return nil, false, nil
			}
			clf = nf
		case named(key, keyCanonical, "Connection"):
			if conn >= 0 {
				return nil, false, nil
			}
			conn = nf
		case named(key, keyCanonical, "Pragma"):
			if pragma < 0 {
				pragma = nf
			}
		case named(key, keyCanonical, "Cache-Control"):
			hasCC = true
		case named(key, keyCanonical, "Transfer-Encoding"), named(key, keyCanonical, "Trailer"):
			return nil, false, nil
		}
		nf++
	}
	end := i

	// Framing: one Content-Length, digits only.
	if clf < 0 {
		return nil, false, nil
	}
	f := fields[clf]
	if f.vn == 0 || f.vn > maxFastLength {
		return nil, false, nil
	}
	var length int64
	for _, c := range buf[f.v : f.v+f.vn] {
		if !isDigit(c) {
			return nil, false, nil
		}
		length = length*10 + int64(c-'0')
	}

	// Connection: close, or HTTP/1.0 without keep-alive, ends the conn.
	// The field is kept, where ReadResponse deletes "close" from an
	// HTTP/1.1 header (see connfield.go).
	http10 := buf[7] == '0'
	closing := http10
	if conn >= 0 {
		f := fields[conn]
		switch v := buf[f.v : f.v+f.vn]; {
		case foldEq(v, "close"):
			closing = true
		case foldEq(v, "keep-alive"):
			closing = false
		default:
			return nil, false, nil
		}
	}

	// Accepted. The strings, keys and values, share one copy of the header
	// block, its keys made canonical first if they need to be: never the
	// reader's buffer, which the next read overwrites.
	var s string
	if canonical {
		s = string(buf[:end])
	} else {
		s = canonicalCopy(buf[:end], fields[:nf])
	}

	fr := &fastResponse{}
	resp = &fr.resp
	resp.Status = s[len("HTTP/1.1 "):statusEnd]
	resp.StatusCode = code
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	if http10 {
		resp.Proto, resp.ProtoMinor = "HTTP/1.0", 0
	}
	h := make(http.Header, nf)
	vals := fr.vals[:]
	if nf > len(vals) {
		vals = make([]string, nf)
	}
	// A key is looked up before it is stored only if one stored before may
	// be the same: seen has each stored key's fieldname.Bit.
	var seen uint64
	for _, f := range fields[:nf] {
		key, val := s[f.k:f.k+f.kn], s[f.v:f.v+f.vn]
		bit := fieldname.Bit(key)
		var vv []string
		if seen&bit != 0 {
			vv = h[key]
		}
		seen |= bit
		if vv != nil {
			h[key] = append(vv, val)
		} else {
			// Capacity 1, as ReadResponse's: an append to one key's
			// values must not overwrite the next key's.
			vv, vals = vals[:1:1], vals[1:]
			vv[0] = val
			h[key] = vv
		}
	}
	if pragma >= 0 && !hasCC && h["Pragma"][0] == "no-cache" {
		h["Cache-Control"] = []string{"no-cache"}
	}
	resp.Header = h
	resp.ContentLength = length
	resp.Close = closing
	resp.Request = req
	if length == 0 {
		resp.Body = http.NoBody
	} else {
		fr.body.lr = io.LimitedReader{R: br, N: length}
		fr.body.closing = closing
		fr.body.wrap = &fr.wrap
		resp.Body = &fr.body
	}
	br.Discard(end)
	return resp, true, nil
}

// fastBody is the body of a response parseResponse read: it reads as
// ReadResponse's body of a Content-Length does. Its Read ends with io.EOF
// along with the last bytes, and with io.ErrUnexpectedEOF if the reader
// ends first, then io.EOF; its Close reads the rest unless the connection
// is to be closed, and a Read after Close fails with
// http.ErrBodyReadAfterClose.
type fastBody struct {
	mu      sync.Mutex // serializes Read and Close
	wrap    *body      // the fastResponse's room for the body that wraps this one
	lr      io.LimitedReader
	closing bool // the response ends the connection
	sawEOF  bool
	closed  bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *fastBody) readLocked(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err := b.lr.Read(p)
	switch {
	case err == io.EOF:
		b.sawEOF = true
		if b.lr.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	case err == nil && n > 0 && b.lr.N == 0:
		b.sawEOF = true
		err = io.EOF
	}
	return n, err
}

func (b *fastBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && !b.closing {
		_, err = io.Copy(io.Discard, lockedBody{b})
	}
	b.closed = true
	return err
}

// lockedBody reads a fastBody whose mutex is held.
type lockedBody struct{ b *fastBody }

func (l lockedBody) Read(p []byte) (int, error) { return l.b.readLocked(p) }

// canonicalCopy returns a copy of the header block with the keys of
// fields in canonical form, as http.CanonicalHeaderKey makes them: upper
// case first and after each hyphen, lower case elsewhere.
func canonicalCopy(block []byte, fields []field) string {
	var sb strings.Builder
	sb.Grow(len(block))
	at := 0
	for _, f := range fields {
		sb.Write(block[at:f.k])
		upper := true
		for _, c := range block[f.k : f.k+f.kn] {
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			sb.WriteByte(c)
			upper = c == '-'
		}
		at = int(f.k + f.kn)
	}
	sb.Write(block[at:])
	return sb.String()
}

// textEnd returns the index of the first byte of buf at or after i that
// is not a textByte, or len(buf). Field values are most of a header's
// bytes, so it tests eight at a time, as validValue does, and looks at a
// single byte only where a word holds a tab or the end: the lowest byte
// the test flags is always one below a space, 0x7f, or one from 0x80 up
// (a borrow runs only upwards, from a byte below a space or from 0x7f).
func textEnd(buf []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(buf) {
		x := binary.LittleEndian.Uint64(buf[i:])
		del := x ^ 0x7f*ones
		m := ((x-0x20*ones)&^x | (del-ones)&^del | x) & highs
		if m == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(m) >> 3
		if buf[i] != '\t' {
			return i
		}
		i++
	}
	for ; i < len(buf) && textByte[buf[i]]; i++ {
	}
	return i
}

// named reports whether the name b, canonical as the caller found it or
// not, is name, a canonical one, in any case: a canonical b (as most are)
// is compared as it is.
func named(b []byte, canonical bool, name string) bool {
	if canonical {
		return string(b) == name
	}
	return foldEq(b, name)
}

// foldEq reports whether b equals s, ASCII letters compared without case.
func foldEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if c|0x20 != d|0x20 || c != d && (c|0x20 < 'a' || c|0x20 > 'z') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// textByte holds the bytes parseResponse accepts in a reason phrase or a
// field value: visible ASCII, space and tab.
var textByte = func() (t [256]bool) {
	for c := ' '; c < 0x7f; c++ {
		t[c] = true
	}
	t['\t'] = true
	return t
}()
