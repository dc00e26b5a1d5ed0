package server

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
)

// Framing that http.ReadRequest accepts but RFC 9112 does not.
//
// A request with both Content-Length and Transfer-Encoding is the classic
// way to smuggle a request past a proxy that reads the other length:
// RFC 9112 (section 6.3) says it "ought to be handled as an error", and a
// server that processes it must close the connection afterwards. Since
// http.ReadRequest deletes Content-Length when Transfer-Encoding is present
// (and ignores Transfer-Encoding, deleting it, on HTTP/1.0), the parsed
// request no longer shows the conflict. So the connection records the raw
// bytes of each request's header as they pass through the reader (a copy,
// with no parsing), and when the parsed request is chunked, or is of
// HTTP/1.0, looks in them for the field names: a request with both is
// refused with 400; an HTTP/1.0 request with Transfer-Encoding alone is
// served and its connection closed, as RFC 9112 section 6.1 asks.

// framing is what the raw header says beyond the parsed request.
type framing uint8

const (
	framingOK       framing = iota
	framingConflict         // both Content-Length and Transfer-Encoding
	framingFaulty10         // HTTP/1.0 with Transfer-Encoding: serve, then close
)

// recordHeader starts recording the bytes of the next request's header:
// those the reader already holds, then every one read through conn.Read.
func (c *conn) recordHeader() {
	held, _ := c.br.Peek(c.br.Buffered())
	c.raw = append(c.raw[:0], held...)
	c.recording = true
}

// stopRecording ends the recording and returns the framing of req, the
// request just read (nil if it could not be).
func (c *conn) stopRecording(req *http.Request) framing {
	c.recording = false
	c.releaseHead()
	raw := c.raw
	if cap(c.raw) > 2*pendCap {
		c.raw = nil // a large header: its memory is not kept for the next
	}
	if req == nil {
		return framingOK
	}
	// What the reader holds now came after the header.
	return framingOf(req, raw[:len(raw)-c.br.Buffered()])
}

// framingOf returns the framing of req, given the raw bytes of its header.
func framingOf(req *http.Request, head []byte) framing {
	chunked := len(req.TransferEncoding) > 0
	if !chunked && (req.ProtoMajor != 1 || req.ProtoMinor != 0) {
		return framingOK
	}
	hasCL := headerHasField(head, "Content-Length")
	hasTE := chunked || headerHasField(head, "Transfer-Encoding")
	switch {
	case hasCL && hasTE:
		return framingConflict
	case hasTE:
		return framingFaulty10
	}
	return framingOK
}

// headerHasField reports whether a request's raw header (its request line,
// field lines and the empty line) has a field of the given name, in any
// case. Lines are split as textproto splits them (at LF, with a CR before it
// dropped); a line that begins with a space or a tab continues the one
// before (obs-fold), so it names no field.
func headerHasField(head []byte, name string) bool {
	first := true
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if first {
			first = false // the request line
			continue
		}
		if len(line) == 0 {
			return false // the header's end
		}
		if len(line) > len(name) && line[len(name)] == ':' && strings.EqualFold(string(line[:len(name)]), name) {
			return true
		}
	}
	return false
}

// unsupportedTE is the type of the error http.ReadRequest returns for a
// transfer coding it does not implement, which net/http's server answers
// with 501 (its isUnsupportedTEError asserts this type). The type is not
// exported, so it is learnt once from the error of a request that has one.
var unsupportedTE = func() reflect.Type {
	_, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")))
	if err == nil {
		return nil
	}
	return reflect.TypeOf(err)
}()

// isUnsupportedTE reports whether http.ReadRequest's error is the one
// net/http's server answers with 501, by its type, as net/http decides.
func isUnsupportedTE(err error) bool {
	return unsupportedTE != nil && reflect.TypeOf(err) == unsupportedTE
}
