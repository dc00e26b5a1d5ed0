package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/fieldname"
)

// Reading the common request without http.ReadRequest.
//
// http.ReadRequest allocates for each part of a request: the request line,
// the URL, every field value, the header map and its value slices, the
// request; and the server then copies the request to give it its context.
// Most requests an API gateway serves are plain: an origin-form target, a
// few fields, no body or one of a declared length. readFast reads those
// itself, into one string and one request that carries its context from
// the start (copied once, by WithContext, from a template on the stack),
// with its context, URL, response and field values in one block (reqBlock),
// and leaves every other request, untouched, to http.ReadRequest.
//
// The subset it reads is one whose result it can tell exactly: the request
// line "METHOD SP target SP HTTP/1.1" with a token for the method (not
// CONNECT) and a target that begins with "/" and holds no byte that
// url.ParseRequestURI would decode or record in RawPath (no "%" and only
// unreserved and sub-delimiter bytes before a "?"; any printable ASCII but
// "#" after it); then field lines "name: value" with a token name, a value of
// printable ASCII, spaces and tabs, and CRLF line ends; exactly one Host
// field; no Transfer-Encoding, no Pragma (which http.ReadRequest may turn
// into a Cache-Control field), and at most one Content-Length, of 1 to 18
// digits (a length http.ReadRequest neither refuses nor reconciles with
// another). The body is read as http.ReadRequest's is (lengthBody). The
// whole header must be in the reader's buffer already; readFast peeks at it
// and consumes it only once it has read it all. Anything else (obs-fold, a
// bare LF or CR, a space before a colon, NUL, non-ASCII bytes, absolute-form
// targets, "*", percent-escapes, a chunked body, repeated lengths) is read
// by http.ReadRequest from the same position, as if readFast were not
// there. FuzzReadFast holds the two to the same request, field by field,
// to the same reads of the body, and to the same bytes consumed.
//
// The request's strings (method, target, URL parts, field names and values)
// are cut from one string holding a copy of the header, never from the
// reader's buffer, which the next request overwrites: a handler that keeps
// one of them keeps the copy of the whole header (at most the buffer's
// 4 KiB) alive.

// maxFastFields is the most field lines a request read by readFast has;
// one with more goes to http.ReadRequest.
const maxFastFields = 64

// smallHeader is how many keys a header map made without a size hint holds
// without growing; a request with more field lines gets a map made for
// them. It is also how many field values a reqBlock has room for.
const smallHeader = 8

// fastField is one field line of a head: the spans of its name and of its
// value (without the spaces and tabs around it).
type fastField struct {
	ks, ke, vs, ve uint16
	canonical      bool // the name is already as http.CanonicalHeaderKey writes it
}

// fastHead is what scan learnt of a request's header: where its parts are.
// It holds offsets only, so that scanning allocates nothing.
type fastHead struct {
	n          int // the header's length, through the empty line
	methodEnd  int // the method is buf[:methodEnd]
	targetEnd  int // the target is buf[methodEnd+1:targetEnd]
	query      int // the first "?" of the target, or -1
	forceQuery bool
	length     int64 // the Content-Length, 0 without one
	nf         int
	room       int // fields beyond its own the header map is made for (Server.HeaderRoom)
	fields     [maxFastFields]fastField
}

// readFast reads the next request if it is of the subset above and wholly
// buffered, in a block of c.newBlock. It returns nil, having consumed
// nothing, otherwise.
func (c *conn) readFast() (*http.Request, *reqBlock) {
	var h fastHead
	buf, _ := c.br.Peek(c.br.Buffered())
	if !h.scan(buf) {
		return nil, nil
	}
	blk := c.newBlock()
	h.room = max(c.srv.HeaderRoom, 0)
	req := h.read(blk, c.br, buf)
	if req == nil {
		blk.ctx.Cancel()
		return nil, nil
	}
	return req, blk
}

// read builds the request scan found in buf, what br holds, and consumes
// its header from br; or, if it cannot (never), returns nil, having
// consumed nothing.
func (h *fastHead) read(blk *reqBlock, br *bufio.Reader, buf []byte) *http.Request {
	req := h.build(blk, br, buf)
	if req != nil {
		br.Discard(h.n)
	}
	return req
}

// scan reports whether buf begins with a whole request header of the subset
// readFast reads, and records where its parts are.
func (h *fastHead) scan(buf []byte) bool {
	if len(buf) > 1<<16-1 {
		buf = buf[:1<<16-1] // offsets fit in uint16
	}
	// The request line.
	i := 0
	for i < len(buf) && isTokenByte(buf[i]) {
		i++
	}
	if i == 0 || i >= len(buf) || buf[i] != ' ' || string(buf[:i]) == http.MethodConnect {
		return false
	}
	h.methodEnd = i
	i++
	if i >= len(buf) || buf[i] != '/' {
		return false
	}
	h.query = -1
	marks := 0 // "?" in the target
	for ; i < len(buf) && buf[i] != ' '; i++ {
		c := buf[i]
		switch {
		case c == '?':
			if h.query < 0 {
				h.query = i
			}
			marks++
		case h.query < 0 && !pathByte[c]:
			return false
		case h.query >= 0 && (c <= ' ' || c >= 0x7f || c == '#'):
			return false
		}
	}
	h.targetEnd = i
	// As url.ParseRequestURI: a target ending in its only "?" has an empty
	// query that is kept (ForceQuery).
	h.forceQuery = marks == 1 && buf[i-1] == '?'
	const proto = " HTTP/1.1\r\n"
	if !bytes.HasPrefix(buf[i:], []byte(proto)) {
		return false
	}
	i += len(proto)

	// The field lines, up to the empty line.
	hosts, lengths := 0, 0
	h.nf, h.length = 0, 0
	for {
		if i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n' {
			h.n = i + 2
			return hosts == 1
		}
		if h.nf == maxFastFields {
			return false
		}
		f := &h.fields[h.nf]
		h.nf++
		ks := i
		i, f.canonical = fieldname.Scan(buf, i)
		if i == ks || i >= len(buf) || buf[i] != ':' {
			return false
		}
		ke := i
		i++
		for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t') {
			i++
		}
		vs := i
		i = valueEnd(buf, i)
		ve := i
		for ve > vs && (buf[ve-1] == ' ' || buf[ve-1] == '\t') {
			ve--
		}
		if i+1 >= len(buf) || buf[i] != '\r' || buf[i+1] != '\n' {
			return false
		}
		i += 2
		f.ks, f.ke, f.vs, f.ve = uint16(ks), uint16(ke), uint16(vs), uint16(ve)
		name, value := buf[ks:ke], buf[vs:ve]
		switch {
		case nameIs(name, "Host"):
			hosts++
		case nameIs(name, "Content-Length"):
			// One length, in digits that cannot overflow: http.ReadRequest
			// refuses or reconciles the others.
			lengths++
			if lengths > 1 || len(value) == 0 || len(value) > 18 {
				return false
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return false
				}
				h.length = h.length*10 + int64(c-'0')
			}
		case nameIs(name, "Transfer-Encoding"), nameIs(name, "Pragma"):
			return false
		}
	}
}

// valueEnd returns the index of the first byte of buf from i on that a
// field value of the fast path cannot hold (anything but printable ASCII, a
// space or a tab: the CR that ends the line, as a rule), or len(buf). A
// value is most of a head's bytes, so it tests eight bytes at a time and
// looks at them one by one only in the word the test flags: the one with
// the line's end, a tab, another byte outside the range, or a false alarm.
// valueEndBytewise is its definition.
func valueEnd(buf []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(buf); i += 8 {
		x := binary.LittleEndian.Uint64(buf[i:])
		// A byte below 0x20 (Bit Twiddling Hacks' hasless), one of 0x80 or
		// above (its high bit), or one equal to 0x7f (haszero of x^0x7f...)
		// sets a high bit: never missed, sometimes set for another byte.
		del := x ^ 0x7f*ones
		if ((x-0x20*ones)&^x|x|(del-ones)&^del)&highs != 0 {
			return valueEndBytewise(buf, i)
		}
	}
	return valueEndBytewise(buf, i)
}

// valueEndBytewise is valueEnd, a byte at a time.
func valueEndBytewise(buf []byte, i int) int {
	for i < len(buf) && (buf[i] >= ' ' && buf[i] < 0x7f || buf[i] == '\t') {
		i++
	}
	return i
}

// build makes the request scan described, with blk's context, as
// http.ReadRequest would have read it from br. buf is the buffer scan read;
// nothing of the request refers to it.
func (h *fastHead) build(blk *reqBlock, br *bufio.Reader, buf []byte) *http.Request {
	s := h.text(buf)
	method := internMethod(s[:h.methodEnd])
	// The request http.NewRequestWithContext would make for an empty URL,
	// with blk's URL, filled in below as url.ParseRequestURI would have:
	// WithContext copies it from the stack, the request's one allocation.
	tmpl := http.Request{Method: method, URL: &blk.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if n := h.nf - 1 + h.room; n > smallHeader {
		tmpl.Header = make(http.Header, n)
	} else {
		tmpl.Header = make(http.Header)
	}
	req := tmpl.WithContext(&blk.ctx)
	target := s[h.methodEnd+1 : h.targetEnd]
	req.RequestURI = target
	u := req.URL
	switch {
	case h.forceQuery:
		u.Path, u.ForceQuery = target[:len(target)-1], true
	case h.query >= 0:
		q := h.query - (h.methodEnd + 1)
		u.Path, u.RawQuery = target[:q], target[q+1:]
	default:
		u.Path = target
	}

	// The Host field is not kept in the header (http.ReadRequest deletes
	// it), but in req.Host.
	hdr := req.Header
	// As textproto: a key's first value is a slice of one shared array,
	// with no room to grow into the next key's.
	vals := blk.vals[:]
	if h.nf > len(vals) {
		vals = make([]string, h.nf)
	}
	// A key is looked up before it is stored only if one stored before may
	// be the same: seen has each stored key's fieldname.Bit.
	var seen uint64
	closing := false
	for i, f := range h.fields[:h.nf] {
		key := internKey(s[f.ks:f.ke])
		var v string
		if f.ve > f.vs {
			v = s[f.vs:f.ve]
		}
		switch key {
		case "Host":
			req.Host = v
			continue
		case "Connection":
			closing = closing || httpguts.HeaderValuesContainsToken([]string{v}, "close")
		case "Expect":
			blk.expect = true
		}
		bit := fieldname.Bit(key)
		var vv []string
		if seen&bit != 0 {
			vv = hdr[key]
		}
		seen |= bit
		if vv == nil {
			vals[i] = v
			hdr[key] = vals[i : i+1 : i+1]
		} else {
			hdr[key] = append(vv, v)
		}
	}
	req.Close = closing
	blk.fast = true
	req.Body = http.NoBody
	if h.length > 0 {
		req.ContentLength = h.length
		req.Body = &lengthBody{src: io.LimitedReader{R: br, N: h.length}}
	}
	return req
}

// text copies the header into a new string, with its field names
// canonicalized as textproto does.
func (h *fastHead) text(buf []byte) string {
	var sb strings.Builder
	sb.Grow(h.n)
	at := 0
	for _, f := range h.fields[:h.nf] {
		if f.canonical {
			continue
		}
		sb.Write(buf[at:f.ks])
		upper := true
		for _, c := range buf[f.ks:f.ke] {
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			sb.WriteByte(c)
			upper = c == '-'
		}
		at = int(f.ke)
	}
	sb.Write(buf[at:h.n])
	return sb.String()
}

// lengthBody is the body of a request readFast read that has a
// Content-Length: that many bytes of the connection, read as the body
// http.ReadRequest makes reads them. Its last bytes come with io.EOF, a
// connection that ends early is io.ErrUnexpectedEOF, and once at the end it
// stays there. The server serializes its reads (body) and never closes it.
type lengthBody struct {
	src    io.LimitedReader
	sawEOF bool
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err := b.src.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.src.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil && n > 0 && b.src.N == 0 {
		err = io.EOF
		b.sawEOF = true
	}
	return n, err
}

// Close does nothing: what is left of the body is the server's to discard.
func (b *lengthBody) Close() error { return nil }

// isTokenByte reports whether c may be part of a token (RFC 9110, section
// 5.6.2): a method or a field name.
func isTokenByte(c byte) bool { return c < 0x80 && httpguts.IsTokenRune(rune(c)) }

// asciiEqualFold reports whether b is s in any case; s is ASCII.
func nameIs(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// pathByte holds the bytes a target's path may have for readFast: those
// url.ParseRequestURI keeps as they are, with RawPath left empty (RFC
// 3986's unreserved bytes and the reserved ones url.URL does not escape in a
// path). TestPathByte checks it against net/url.
var pathByte = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~$&+,/:;=@") {
		t[c] = true
	}
	return t
}()

// commonMethods are the methods of most requests, most common first.
var commonMethods = [...]string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace}

// internMethod returns the common method equal to method, so that the
// request's Method does not keep the request's copy of its header alive,
// or method.
func internMethod(method string) string {
	for _, m := range commonMethods {
		if m == method {
			return m
		}
	}
	return method
}

// commonKeys are the field names of most requests, which the header's keys
// are interned as (internKey), as textproto interns those it knows, so that
// the keys do not keep the request's copy of its header alive.
var commonKeys = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
	"Cache-Control", "Cdn-Loop", "Connection", "Content-Encoding", "Content-Language",
	"Content-Length", "Content-Type", "Cookie", "Date", "Dnt", "Expect", "Forwarded",
	"From", "Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
	"If-Unmodified-Since", "Keep-Alive", "Max-Forwards", "Origin", "Priority",
	"Proxy-Authorization", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
	"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
	"Sec-Fetch-User", "Te", "Traceparent", "Tracestate", "Trailer", "Upgrade",
	"Upgrade-Insecure-Requests", "User-Agent", "Via", "X-Api-Key", "X-Forwarded-For",
	"X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Real-Ip",
	"X-Request-Id", "X-Requested-With",
}

// keysByLen holds commonKeys by length, for internKey: a request's name is
// compared with the few of its length, a first byte and then the rest,
// where a map of them hashed every name, about 140 instructions a field.
var keysByLen = func() (t [26][]string) {
	for _, k := range commonKeys {
		t[len(k)] = append(t[len(k)], k)
	}
	return t
}()

// internKey returns the common key equal to key, or key.
func internKey(key string) string {
	if len(key) < len(keysByLen) {
		for _, k := range keysByLen[len(key)] {
			if k[0] == key[0] && k == key {
				return k
			}
		}
	}
	return key
}
