package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServerRefusesABodyThatIsNotUTF8: a body with a byte that is not
// UTF-8 is answered 400, as the gateway's RPC routes answer it, where
// encoding/json handed the handler U+FFFD in its place.
func TestServerRefusesABodyThatIsNotUTF8(t *testing.T) {
	s := NewServer()
	var got string
	Register(s, "Echo.Say", func(_ context.Context, req *struct{ Text string }) (*struct{}, error) {
		got = req.Text
		return &struct{}{}, nil
	})
	for _, tc := range []struct {
		body string
		want int
	}{
		{"{\"Text\":\"caf\xc3\xa9\"}", http.StatusOK},
		{"{\"Text\":\"caf\xe9\"}", http.StatusBadRequest},
		{"{\"Text\":\"a\"}\xff", http.StatusBadRequest},
	} {
		got = ""
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/rpc/Echo.Say", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", ContentType)
		s.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%q: %d %s, want %d (the handler read %q)", tc.body, w.Code, w.Body, tc.want, got)
		}
		if tc.want != http.StatusOK && got != "" {
			t.Errorf("%q: the handler ran on %q", tc.body, got)
		}
	}
}
