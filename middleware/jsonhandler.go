package middleware

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// JSONHandler is an slog.Handler that writes what slog.NewJSONHandler
// writes, and to which AccessLog writes its lines itself rather than
// through slog's general path: one line a request is the gateway's most
// frequent write, and with slog (attribute values resolved, each key and
// string escaped a byte at a time, a record's attributes copied twice) the
// line cost some 22,000 instructions a request, over a quarter of the
// gateway's user-space work with the access log on, where it now costs
// some 7,900, most of them the log queue's (bench/README.md, "Counting
// instructions"). The access log's
// encoder writes the same bytes, which tests hold byte for byte to
// slog's over hostile values (control bytes, invalid UTF-8, U+2028, quotes,
// times in other zones); every other record, and every line when the
// options add the source or replace attributes, goes through slog.
type JSONHandler struct {
	slog.Handler // slog's JSONHandler over out
	out          *lockedWriter
	// plain: no AddSource, no ReplaceAttr, so that the access log's
	// encoder writes what slog would.
	plain bool
}

// NewJSONHandler returns a JSONHandler that writes to w with opts (nil
// for slog's defaults), as slog.NewJSONHandler(w, opts) would. Its lines
// are written to w one Write a line, never two at once.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) *JSONHandler {
	out := &lockedWriter{w: w}
	plain := opts == nil || (!opts.AddSource && opts.ReplaceAttr == nil)
	return &JSONHandler{Handler: slog.NewJSONHandler(out, opts), out: out, plain: plain}
}

// lockedWriter makes the writes of slog's handler and those of the access
// log's encoder one at a time, as slog's handler alone would.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// maxPooledLine bounds the buffers kept for the next line: a line with a
// long path (up to the request head's limit) is written from a buffer of
// its own, which is not kept.
const maxPooledLine = 4 << 10

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAccess writes l as the line of a record at level INFO with the
// message "request", the time at, and l's attributes.
func (h *JSONHandler) writeAccess(at time.Time, l *accessLine) {
	bp := linePool.Get().(*[]byte)
	b, ok := appendAccessJSON((*bp)[:0], at, l)
	if ok {
		_, _ = h.out.Write(b)
	} else {
		// A year RFC 3339 cannot write: slog writes an error beside it.
		var attrs [maxAttrs]slog.Attr
		rd := slog.NewRecord(at, slog.LevelInfo, "request", 0)
		rd.AddAttrs(l.attrs(attrs[:0])...)
		_ = h.Handler.Handle(context.Background(), rd)
	}
	if cap(b) <= maxPooledLine {
		*bp = b[:0]
		linePool.Put(bp)
	}
}

// appendAccessJSON appends l's line as slog's JSON handler writes it, in
// the order of accessLine.attrs; false when at's year is outside 0-9999.
func appendAccessJSON(b []byte, at time.Time, l *accessLine) ([]byte, bool) {
	b = append(b, `{"time":"`...)
	b, ok := appendLogTime(b, at)
	if !ok {
		return b, false
	}
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = appendJSONString(b, l.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, l.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(l.duration), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, l.remote)
	if l.host != "" {
		b = append(b, `,"host":`...)
		b = appendJSONString(b, l.host)
	}
	if l.aborted {
		b = append(b, `,"aborted":true`...)
	}
	if l.route != "" {
		b = append(b, `,"route":`...)
		b = appendJSONString(b, l.route)
		b = append(b, `,"service":`...)
		b = appendJSONString(b, l.service)
	}
	if l.attempts > 0 {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, l.node)
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(l.attempts), 10)
	}
	if l.granted > 0 {
		b = append(b, `,"budget_granted":`...)
		b = strconv.AppendInt(b, int64(l.granted), 10)
		b = append(b, `,"budget_left":`...)
		b = strconv.AppendInt(b, int64(l.left), 10)
	}
	if l.hasRequestID {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, l.requestID)
	}
	if l.traceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendJSONString(b, l.traceID)
	}
	return append(b, "}\n"...), true
}

// secondText is the text of one second of one location in RFC 3339: its
// date and time, and its zone.
type secondText struct {
	sec        int64
	loc        *time.Location
	head, zone string
}

// lastSecond is the second last written: the lines of one second share it,
// and a line of another second (or location) makes it anew.
var lastSecond atomic.Pointer[secondText]

// appendLogTime appends t as t.AppendFormat(b, time.RFC3339Nano) does, as
// slog writes a record's time; false when t's year is outside 0-9999.
func appendLogTime(b []byte, t time.Time) ([]byte, bool) {
	sec, loc := t.Unix(), t.Location()
	c := lastSecond.Load()
	if c == nil || c.sec != sec || c.loc != loc {
		if y := t.Year(); y < 0 || y >= 10000 {
			return b, false
		}
		txt := t.AppendFormat(nil, time.RFC3339)
		c = &secondText{sec: sec, loc: loc, head: string(txt[:19]), zone: string(txt[19:])}
		lastSecond.Store(c)
	}
	b = append(b, c.head...)
	if ns := t.Nanosecond(); ns != 0 {
		// RFC3339Nano's fraction: up to nine digits, no trailing zero.
		var f [10]byte
		f[0] = '.'
		for i := 9; i > 0; i-- {
			f[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(f)
		for f[n-1] == '0' {
			n--
		}
		b = append(b, f[:n]...)
	}
	return append(b, c.zone...), true
}

// jsonPlain tells the bytes slog's JSON handler writes in a string as they
// are: printable ASCII but the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainPrefix returns the length of s's longest prefix of jsonPlain bytes.
// Every string of every line goes through it, so it tests eight bytes at a
// time (as upstream/h1's validValue does), and looks at them one by one
// only when the test flags them: for a byte to escape or a false alarm.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8] // one bounds check for the eight reads, which make one load
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// A byte of 0x80 or above, one below 0x20 (hasless), a quote or
		// a backslash (haszero of the word xored with it) sets its high
		// bit in one of the four words: never missed.
		quote, backslash := x^'"'*ones, x^'\\'*ones
		if (x|(x-0x20*ones)&^x|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0 {
			break
		}
	}
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	return i
}

// appendJSONString appends s quoted as slog's JSON handler quotes a string:
// the quote, the backslash and \n, \r, \t escaped so, other bytes below
// 0x20 as \u00XX, a byte that is not UTF-8 as \ufffd, U+2028 and U+2029 as
// \u2028 and \u2029, everything else as it is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := plainPrefix(s)
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	const hex = "0123456789abcdef"
	start := 0
	for i < len(s) {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
