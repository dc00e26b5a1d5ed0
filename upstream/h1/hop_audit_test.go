package h1

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// An answer's Connection fields name the fields the router must not
// forward: h1 keeps them, "close" or not, whichever path reads the answer,
// where http.ReadResponse deletes them when they hold "close"
// (connfield.go), and the answer still closes its connection.

var hopCases = []struct {
	name   string
	answer string
	want   []string // the Connection values kept
	close  bool     // the answer closes its connection
}{
	{"close and a field", "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok",
		[]string{"close, X-Hop"}, true},
	{"two lines", "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Hop: secret\r\nconnection: X-Hop\r\nContent-Length: 2\r\n\r\nok",
		[]string{"close", "X-Hop"}, true},
	{"case and blanks", "HTTP/1.1 200 OK\r\nconnection: \t X-HOP ,CLoSe \t\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok",
		[]string{"X-HOP ,CLoSe"}, true},
	{"close alone (parseResponse)", "HTTP/1.1 200 OK\r\nConnection: close\r\nClose: x\r\nContent-Length: 2\r\n\r\nok",
		[]string{"close"}, true},
	{"keep-alive and a field", "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok",
		[]string{"keep-alive, X-Hop"}, false},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		[]string{"close, X-Hop"}, true},
	{"until close", "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\n\r\nok",
		[]string{"close, X-Hop"}, true},
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok",
		[]string{"close, X-Hop"}, true},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok",
		[]string{"close, X-Hop"}, true},
	// The field after more than a buffer's worth of header: the tap keeps
	// what ReadResponse read past the bytes buffered when it began.
	{"past the buffer", "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 3*4096) + "\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok",
		[]string{"close, X-Hop"}, true},
	{"none", "HTTP/1.1 200 OK\r\n\r\nok", nil, true},
}

// TestConnectionFieldsAreKept reads each answer with readResponse, in reads
// of a few bytes, and checks its Connection values and Close.
func TestConnectionFieldsAreKept(t *testing.T) {
	for _, tc := range hopCases {
		tap := &headerTap{r: &wire{data: []byte(tc.answer), sizes: []byte{7, 200}, err: io.EOF}}
		br := bufio.NewReader(tap)
		resp, err := readResponse(br, tap, &http.Request{Method: "GET"})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := resp.Header["Connection"]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Connection %q, want %q", tc.name, got, tc.want)
		}
		if resp.Close != tc.close {
			t.Errorf("%s: Close %v, want %v", tc.name, resp.Close, tc.close)
		}
		if b, err := io.ReadAll(resp.Body); string(b) != "ok" || err != nil {
			t.Errorf("%s: body %q, %v", tc.name, b, err)
		}
	}
}

// TestConnectionFieldsAreKeptByRoundTrip: the same through a Transport,
// behind an informational answer, and an answer that holds "close" is on a
// conn of its own.
func TestConnectionFieldsAreKeptByRoundTrip(t *testing.T) {
	for _, tc := range hopCases {
		answer := "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + tc.answer
		serve := keepAlive(answer)
		if tc.close {
			serve = replies(answer) // and the conn's close
		}
		url, accepts := rawServer(t, serve)
		tr, _ := newTransport(t)
		for i := range 2 {
			resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ok" || err != nil {
				t.Fatalf("%s: body %q, %v", tc.name, b, err)
			}
			if got := resp.Header["Connection"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s, request %d: Connection %q, want %q", tc.name, i, got, tc.want)
			}
		}
		want := int32(1)
		if tc.close {
			want = 2
		}
		if n := accepts.Load(); n != want {
			t.Errorf("%s: %d conns, want %d", tc.name, n, want)
		}
	}
}
