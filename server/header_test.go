package server

import (
	"bytes"
	"net/http"
	"testing"
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
