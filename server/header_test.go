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
