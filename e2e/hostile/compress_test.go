package hostile

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// compressCases: a route that compresses its answers (route zip) against
// Accept-Encoding fields nobody should send and compressed request bodies.
// The gateway decides in bounded work, never fails a request over the field,
// and never decompresses a request.
func compressCases() []hcase {
	const fam = "compression"
	tokens := strings.Repeat("x,", 10000)
	return []hcase{
		{family: fam, name: "an Accept-Encoding of 10,000 tokens is answered; a coding past the first 64 is ignored", run: func(t *testing.T, s *stack) {
			a, x := get(t, s.gw, "/zip/many", "Accept-Encoding: "+tokens+"gzip")
			if a.status() != http.StatusOK || !a.fromBackend() {
				t.Fatalf("answered %s, want 200 from the backend: %s", a, x)
			}
			if ce := a.resp.Header.Get("Content-Encoding"); ce != "" || string(a.body) != "echo /zip/many\n" {
				t.Errorf("Content-Encoding %q, body %q: want the answer as it is", ce, a.body)
			}
		}},
		{family: fam, name: "gzip before 10,000 tokens is used", run: func(t *testing.T, s *stack) {
			a, x := get(t, s.gw, "/zip/first", "Accept-Encoding: gzip,"+tokens)
			if a.status() != http.StatusOK || !a.fromBackend() {
				t.Fatalf("answered %s, want 200 from the backend: %s", a, x)
			}
			if ce := a.resp.Header.Get("Content-Encoding"); ce != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", ce)
			}
			zr, err := gzip.NewReader(bytes.NewReader(a.body))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(zr); err != nil || string(got) != "echo /zip/first\n" {
				t.Errorf("decoded %q, %v", got, err)
			}
		}},
		{family: fam, name: "malformed Accept-Encoding elements never fail the request", run: func(t *testing.T, s *stack) {
			a, x := get(t, s.gw, "/zip/bad", "Accept-Encoding: gzip;q=, br;q=2, ;;;, *;q=-1, zstd;q=0.0001, ;q=1, gzip;q=1;q=0, \t,")
			if a.status() != http.StatusOK || !a.fromBackend() {
				t.Fatalf("answered %s, want 200 from the backend: %s", a, x)
			}
		}},
		{family: fam, name: "a gzip request body (a 10 MiB bomb) reaches the backend as sent, never inflated", run: func(t *testing.T, s *stack) {
			var zipped bytes.Buffer
			zw := gzip.NewWriter(&zipped)
			_, _ = zw.Write(make([]byte, 10<<20))
			_ = zw.Close()
			raw := "POST /zip/bomb HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nAccept-Encoding: gzip\r\nContent-Length: " +
				strconv.Itoa(zipped.Len()) + "\r\nConnection: close\r\n\r\n" + zipped.String()
			x := send(t, s.gw, raw)
			if len(x.answers) != 1 || x.answers[0].status() != http.StatusOK || !x.answers[0].fromBackend() {
				t.Fatalf("want one 200 from the backend: %s", x)
			}
			got := s.echo.complete("/zip/bomb")
			if len(got) != 1 || got[0].Body != zipped.String() || got[0].Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("the backend got %d requests; want one with the %d compressed bytes and its Content-Encoding", len(got), zipped.Len())
			}
		}},
	}
}
