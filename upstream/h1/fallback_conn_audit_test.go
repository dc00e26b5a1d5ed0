package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// The default Fallback keeps an answer's Connection fields as h1 does
// (fallbackconn.go): a plain-HTTP backend's answer to an upload the
// Fallback carries reaches the caller with "Connection: close, X-Hop",
// which http.ReadResponse deletes, so that the router can leave X-Hop out.

// answering serves the requests of a conn with answers in turn, then
// closes it. A request that expects 100-continue gets a 100 before its
// body is read.
func answering(answers ...string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		for _, a := range answers {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
				io.WriteString(nc, "HTTP/1.1 100 Continue\r\n\r\n")
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			if _, err := io.WriteString(nc, a); err != nil {
				return
			}
		}
	}
}

// fallbackTransport is a Transport with its default Fallback.
func fallbackTransport(t *testing.T) *Transport {
	tr := &Transport{DialContext: (&dialer{}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// checkHop sends req through tr and checks its answer is tc's: its body,
// its Connection values and Close.
func checkHop(t *testing.T, tr *Transport, req *http.Request, name string, want []string, close bool) *http.Response {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || err != nil {
		t.Errorf("%s: body %q, %v", name, b, err)
	}
	if got := resp.Header["Connection"]; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Connection %q, want %q", name, got, want)
	}
	if resp.Close != close {
		t.Errorf("%s: Close %v, want %v", name, resp.Close, close)
	}
	return resp
}

// fallbackFronts are the 1xx answers an answer comes after.
var fallbackFronts = []struct{ name, head string }{
	{"", ""},
	{", after a 103", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"},
}

// TestFallbackKeepsConnectionUpload: a plain-HTTP backend's answers to an
// upload over MaxInlineBody, to one of unknown length and to one that
// expects 100-continue (the backend's 100 comes first) reach the caller
// with their Connection fields.
func TestFallbackKeepsConnectionUpload(t *testing.T) {
	body := strings.Repeat("u", 100<<10)
	uploads := []struct {
		name string
		req  func(url string) *http.Request
	}{
		{"100 KiB", func(url string) *http.Request { return mustReq(t, "POST", url, body) }},
		{"unknown length", func(url string) *http.Request {
			r := mustReq(t, "POST", url, "abc")
			r.ContentLength = -1
			return r
		}},
		{"100-continue", func(url string) *http.Request {
			r := mustReq(t, "POST", url, "abc")
			r.Header.Set("Expect", "100-continue")
			return r
		}},
	}
	for _, tc := range hopCases {
		for _, f := range fallbackFronts {
			for _, u := range uploads {
				url, _ := rawServer(t, answering(f.head+tc.answer))
				tr := fallbackTransport(t)
				checkHop(t, tr, u.req(url), tc.name+f.name+", "+u.name, tc.want, tc.close)
			}
		}
	}
}

// TestFallbackKeepsTheConnForUpgrades: a 101's body, the conn under the
// tap, still half-closes (a tunnel needs it).
func TestFallbackKeepsTheConnForUpgrades(t *testing.T) {
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		b, _ := io.ReadAll(br) // until the caller's half-close
		io.WriteString(nc, "got "+string(b))
	})
	tr := &Transport{} // its dialer's conns half-close
	defer tr.CloseIdleConnections()
	req := mustReq(t, "GET", url, "")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "x")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriter)
	cw, ok2 := resp.Body.(interface{ CloseWrite() error })
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok || !ok2 {
		t.Fatalf("answer %d with a body %T", resp.StatusCode, resp.Body)
	}
	io.WriteString(rw, "hi")
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if b, err := io.ReadAll(rw); string(b) != "got hi" || err != nil {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestTapKeepsOnlyTheAnswer: a tap keeps nothing when the first Read after
// it was armed was made into a buffer that held bytes read before (the
// head may begin with them), nor past its bound.
func TestTapKeepsOnlyTheAnswer(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		name  string
		reads []int // the lengths of the buffers read into, in turn
		ok    bool
	}{
		{"empty buffer", []int{fallbackReadBuffer, 10}, true},
		{"a direct read", []int{2 * fallbackReadBuffer}, true},
		{"bytes held", []int{fallbackReadBuffer - 1, fallbackReadBuffer}, false},
	} {
		c := &tapConn{Conn: &fakeConn{r: strings.NewReader(head)}}
		c.arm()
		for _, n := range tc.reads {
			c.Read(make([]byte, n))
		}
		kept, ok := c.take()
		if ok != tc.ok || ok && string(kept) != head {
			t.Errorf("%s: kept %q, %v; want %v", tc.name, kept, ok, tc.ok)
		}
	}
	c := &tapConn{Conn: &fakeConn{r: strings.NewReader(strings.Repeat("x", maxKeptHead+1))}}
	c.arm()
	for range maxKeptHead/fallbackReadBuffer + 1 {
		c.Read(make([]byte, fallbackReadBuffer))
	}
	if kept, ok := c.take(); ok || kept != nil {
		t.Errorf("past the bound: kept %d bytes, %v", len(kept), ok)
	}
}

// TestRestoreConnectionNeedsTheHead: the Connection fields are read again
// only from the head the transport returned, never another one.
func TestRestoreConnectionNeedsTheHead(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nX-A: a\r\nContent-Length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name, kept string
		ok         bool
	}{
		{"its head", answer, true},
		{"after a 100", "HTTP/1.1 100 Continue\r\n\r\n" + answer, true},
		{"another status", strings.Replace(answer, "200 OK", "200 Fine", 1), false},
		{"another field", strings.Replace(answer, "X-A: a", "X-A: b", 1), false},
		{"a field fewer", strings.Replace(answer, "X-A: a\r\n", "", 1), false},
		{"its lines less the first", strings.TrimPrefix(answer, "HTTP/1.1 200 OK\r\n"), false},
		{"cut short", answer[:40], false},
		{"nothing", "", false},
	} {
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil)
		if err != nil || !connectionDeleted(resp) {
			t.Fatalf("ReadResponse: %v, Connection %q", err, resp.Header["Connection"])
		}
		err = restoreConnection(resp, []byte(tc.kept))
		if got := resp.Header["Connection"]; tc.ok && (err != nil || !reflect.DeepEqual(got, []string{"close, X-Hop"})) ||
			!tc.ok && (!errors.Is(err, errConnectionLost) || got != nil) {
			t.Errorf("%s: %v, Connection %q", tc.name, err, got)
		}
	}
}

// fakeConn is a net.Conn that reads from r.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (c *fakeConn) Read(p []byte) (int, error) { return c.r.Read(p) }
