package server

import (
	"bytes"
	"net/http"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// appendField writes a field as net/http's Header.Write does: line breaks
// in the value become spaces and its outer blanks go, so that a value (a
// handler's, or a backend's the gateway passes on) cannot smuggle a field
// or a whole answer into the header.
func TestAppendFieldAsHeaderWrite(t *testing.T) {
	for _, v := range []string{
		"plain", "", " padded\t", "a\r\nX-Injected: 1", "a\nb", "a\rb", "\r\n\r\nHTTP/1.1 200 OK\r\n",
		"trailing\r\n", "\n", "tab\tinside", "Thu, 26 Nov 2026 12:00:00 GMT",
	} {
		var want bytes.Buffer
		if err := (http.Header{"X-V": {v}}).Write(&want); err != nil {
			t.Fatal(err)
		}
		if got := appendField(nil, "X-V", v); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("value %q: wrote %q, net/http writes %q", v, got, want.Bytes())
		}
	}
}

// BenchmarkSnapshot prices the serialization of an answer's header at
// WriteHeader: a proxied JSON answer's four fields.
func BenchmarkSnapshot(b *testing.B) {
	c := &conn{}
	h := http.Header{
		"X-Request-Id":   {"966774cd027e6801ab4eeeb8d3e80f37"},
		"Content-Type":   {"application/json"},
		"Date":           {"Fri, 04 Dec 2026 18:50:15 GMT"},
		"Content-Length": {"140"},
	}
	b.ReportAllocs()
	for b.Loop() {
		w := response{c: c, header: h, declared: -1, status: http.StatusOK}
		w.snapshot()
		if w.declared != 140 || !w.hasType || !w.hasDate {
			b.Fatal("snapshot missed a field")
		}
	}
}

// A header with two spellings of one name ("d" and "D", which a client
// reads as one field) is written sorted by name, as net/http writes every
// header, so that the client reads that field's values in net/http's
// order, the same on every answer; in the map's order it changed from one
// answer to the next (FuzzAnswer found it). A header of canonical names
// keeps the map's order. The 1xx answers' fields (appendFields) too.
func TestMixedCaseNamesSorted(t *testing.T) {
	h := http.Header{"d": {""}, "0": {"", "0"}, "D": {"0"}, "X-a": {"1"}, "X-A": {"2"}, "Content-Type": {"text/plain"}}
	var want bytes.Buffer
	if err := h.Write(&want); err != nil { // sorted by name
		t.Fatal(err)
	}
	for range 50 { // the map's order changes from one range to the next
		w := response{c: &conn{}, header: h, declared: -1, status: http.StatusOK}
		w.snapshot()
		if got := w.c.hdr; !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("snapshot wrote\n%q\nnet/http writes\n%q", got, want.Bytes())
		}
		if got := appendFields(nil, h); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendFields wrote\n%q\nnet/http writes\n%q", got, want.Bytes())
		}
	}
	// A 304 sends no Content-Type, sorted or not.
	w := response{c: &conn{}, header: h, declared: -1, status: http.StatusNotModified}
	w.snapshot()
	if bytes.Contains(w.c.hdr, []byte("Content-Type")) {
		t.Fatalf("a 304's header has Content-Type: %q", w.c.hdr)
	}
}

// fieldName agrees with httpguts on which names are valid, and with
// http.CanonicalHeaderKey on which valid ones are canonical.
func TestFieldName(t *testing.T) {
	names := []string{"", "a", "A", "x-y", "X-Y", "X-y", "x-Y", "Content-Type", "content-type", "X--A", "X-_a", "1a", "A1-b", "a b", "é", "X-A\x80"}
	for b := range 256 {
		c := string([]byte{byte(b)})
		names = append(names, c, "X-"+c+"a", "A"+c)
	}
	for _, k := range names {
		valid, canonical := fieldName(k)
		if want := httpguts.ValidHeaderFieldName(k); valid != want {
			t.Errorf("fieldName(%q) valid = %v, httpguts says %v", k, valid, want)
		}
		if want := http.CanonicalHeaderKey(k) == k; valid && canonical != want {
			t.Errorf("fieldName(%q) canonical = %v, http.CanonicalHeaderKey gives %q", k, canonical, http.CanonicalHeaderKey(k))
		}
	}
}
