package h1

import (
	"errors"
	"net/http"
	"testing"
)

// An answer whose status is below 100 is a broken answer: http.ReadResponse
// reads "000", "099" and "+99" as 0 and 99, which the gateway's router
// could only pass to a ResponseWriter that panics on them, and which its
// upstream client would count as a success. The round trip fails instead,
// as for "2x0", with a header error that is not ErrNothingWritten (the
// backend saw the request), and the conn is closed.
func TestStatusBelow100Refused(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 099 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 +99 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0 000 OK\r\n\r\nok",
	} {
		url, _ := rawServer(t, keepAlive(answer))
		tr, d := newTransport(t)
		resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%q: status %d taken as an answer, want a header error", answer, resp.StatusCode)
		}
		if errors.Is(err, ErrNothingWritten) {
			t.Fatalf("%q: err %v, must not be ErrNothingWritten: the request was sent", answer, err)
		}
		waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
	}
	// The lowest status there is still passes.
	url, _ := rawServer(t, keepAlive("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, _ := newTransport(t)
	if code, body := get(t, tr, url); code != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q", code, body)
	}
}
