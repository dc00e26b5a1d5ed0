package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"testing"
)

// Informational answers are handed to the request's Got1xxResponse hook,
// in order, with their fields, before the final answer; an error from the
// hook ends the round trip, as with http.Transport.
func TestInformationalReachTheTrace(t *testing.T) {
	const pre = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
	url, _ := rawServer(t, keepAlive(pre+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, _ := newTransport(t)
	for _, refuse := range []bool{false, true} {
		var codes []int
		var link string
		stop := errors.New("no 1xx wanted")
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			codes = append(codes, code)
			if code == http.StatusEarlyHints {
				link = h.Get("Link")
			}
			if refuse {
				return stop
			}
			return nil
		}}
		req := mustReq(t, "GET", url, "")
		req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
		resp, err := tr.RoundTrip(req)
		if refuse {
			if !errors.Is(err, stop) {
				t.Fatalf("refused: %v, want the hook's error", err)
			}
			if len(codes) != 1 {
				t.Errorf("refused: hook called for %v, want once", codes)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		if len(codes) != 2 || codes[0] != 100 || codes[1] != 103 || link != "</a.css>; rel=preload" {
			t.Errorf("hook saw %v, Link %q; want [100 103] and the Link", codes, link)
		}
	}
}
