package server

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/fieldname"
)

// appendStatusLine appends "HTTP/1.1 200 OK\r\n" and the like.
func appendStatusLine(b []byte, is11 bool, code int) []byte {
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = appendInt(b, int64(code))
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = appendInt(b, int64(code))
	}
	return append(b, "\r\n"...)
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendField appends "Key: value\r\n", with the value's line breaks turned
// into spaces and its outer spaces trimmed, as net/http's Header.Write does,
// so that a value cannot smuggle a field or an answer in.
func appendField(b []byte, key, value string) []byte {
	// Two IndexByte scans (vectorized) where ContainsAny builds a set per
	// call: about four times faster on the short values an answer has.
	if strings.IndexByte(value, '\r') >= 0 || strings.IndexByte(value, '\n') >= 0 {
		value = newlineToSpace.Replace(value)
	}
	b = append(b, key...)
	b = append(b, ": "...)
	b = append(b, textproto.TrimString(value)...)
	return append(b, "\r\n"...)
}

// appendFields appends the fields of h that are sent (sendable), in the
// map's order, or sorted by name when a name sent is not canonical (see
// appendSorted).
func appendFields(b []byte, h http.Header) []byte {
	start := len(b)
	for k, vv := range h {
		send, _, canonical := sendable(k)
		if !send {
			continue
		}
		if !canonical {
			return appendSorted(b[:start], h, false)
		}
		for _, v := range vv {
			b = appendField(b, k, v)
		}
	}
	return b
}

// appendSorted appends the fields of h that are sent (sendable) sorted by
// name, as net/http writes every header, less Content-Type when noType. It
// is the order for a header one of whose names is not canonical: a client
// takes "d" and "D" for one field, whose values it reads in the order the
// lines came, so that the map's order, which changes from one answer to
// the next, would shuffle them (FuzzAnswer found it). A header of canonical
// names, the common one, has no two lines of one field under two names,
// and goes in the map's order, without the sort.
func appendSorted(b []byte, h http.Header, noType bool) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if send, _, _ := sendable(k); send && !(noType && k == "Content-Type") {
			for _, v := range h[k] {
				b = appendField(b, k, v)
			}
		}
	}
	return b
}

// sendable reports whether the field named k goes out with the answer's
// header: not the framing ones the server writes itself, in whatever case
// a handler wrote their names, not those named with http.TrailerPrefix
// (prefixed reports those: they are trailers), not a name that is no valid
// token.
//
// A handler that sets w.Header()["content-length"] writes past
// Header.Set's canonical names: the server, which looks up
// "Content-Length", does not see it, and a client, whose names are
// case-insensitive, would read it beside the length the server sends, two
// lengths that a proxy between them may each read its own way. net/http
// sends it, and its own client then refuses the answer (FuzzAnswer found
// it); here it is left out, as the canonical one is, whose value the
// server writes itself.
//
// canonical reports whether a name sent is in canonical form, as
// http.CanonicalHeaderKey makes it (see appendSorted).
func sendable(k string) (send, prefixed, canonical bool) {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Connection":
		return false, false, true
	}
	if strings.HasPrefix(k, http.TrailerPrefix) {
		return false, true, true
	}
	if framingName(k) {
		return false, false, true
	}
	send, canonical = fieldName(k)
	return send, false, canonical
}

// fieldName reports whether k is a valid field name (an RFC 9110 token, as
// httpguts.ValidHeaderFieldName has it), and whether it is in canonical
// form: upper case first and after each hyphen, lower case elsewhere.
func fieldName(k string) (valid, canonical bool) {
	end, canonical := fieldname.Scan(k, 0)
	return k != "" && end == len(k), canonical
}

// framingName reports whether k names a framing field in a case other than the
// canonical one. Only the names as long as one are compared.
func framingName(k string) bool {
	switch len(k) {
	case len("Content-Length"):
		return strings.EqualFold(k, "Content-Length")
	case len("Transfer-Encoding"):
		return strings.EqualFold(k, "Transfer-Encoding")
	case len("Connection"):
		return strings.EqualFold(k, "Connection")
	}
	return false
}

var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// The Date field changes once a second; its text is built once a second.
type dateText struct {
	sec  int64
	text []byte
}

var date atomic.Pointer[dateText]

func appendDate(b []byte) []byte {
	now := time.Now()
	d := date.Load()
	if d == nil || d.sec != now.Unix() {
		d = &dateText{sec: now.Unix(), text: now.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)+8), http.TimeFormat)}
		date.Store(d)
	}
	b = append(b, "Date: "...)
	b = append(b, d.text...)
	return append(b, "\r\n"...)
}
