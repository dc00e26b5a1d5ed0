package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
)

func TestChunkedTrailers(t *testing.T) {
	url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"+
		"5;ext=1;q=\"x\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n"))
	tr, _ := newTransport(t)
	for i := 0; i < 3; i++ {
		resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Trailer.Get("X-T"); got != "" {
			t.Fatalf("trailer before EOF: %q", got)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "hello world" || resp.Trailer.Get("X-T") != "v" {
			t.Fatalf("body %q, err %v, trailer %v", b, err, resp.Trailer)
		}
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d conns, want 1", n)
	}
}

// notReused checks that each of two requests gets answer on a conn of its
// own, the server closing each conn after its one answer.
func notReused(t *testing.T, answer, wantBody string) {
	t.Helper()
	url, accepts := rawServer(t, replies(answer))
	tr, _ := newTransport(t)
	for i := 0; i < 2; i++ {
		if code, body := get(t, tr, url); code != 200 || body != wantBody {
			t.Fatalf("%d %q", code, body)
		}
	}
	if n := accepts.Load(); n != 2 {
		t.Fatalf("%d conns, want 2", n)
	}
}

func TestCloseDelimited(t *testing.T) {
	notReused(t, "HTTP/1.1 200 OK\r\n\r\nbody until close", "body until close")
}

func TestConnectionClose(t *testing.T) {
	notReused(t, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "ok")
}

func TestHTTP10(t *testing.T) {
	notReused(t, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok")
}

func TestInformational(t *testing.T) {
	for _, pre := range []string{
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
	} {
		url, accepts := rawServer(t, keepAlive(pre+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		tr, _ := newTransport(t)
		for i := 0; i < 2; i++ {
			if code, body := get(t, tr, url); code != 200 || body != "ok" {
				t.Fatalf("%q: %d %q", pre, code, body)
			}
		}
		if n := accepts.Load(); n != 1 {
			t.Fatalf("%q: %d conns, want 1", pre, n)
		}
	}
}

func TestSwitchingProtocolsIsFinal(t *testing.T) {
	url, _ := rawServer(t, replies("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	tr, d := newTransport(t)
	if code, body := get(t, tr, url); code != 101 || body != "" {
		t.Fatalf("%d %q", code, body)
	}
	waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
}

func TestBadFraming(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
	} {
		url, _ := rawServer(t, replies(answer))
		tr, d := newTransport(t)
		_, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if err == nil || errors.Is(err, ErrNothingWritten) {
			t.Fatalf("%q: err %v, want a header error", answer, err)
		}
		waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
	}
}

// A response with both Content-Length and Transfer-Encoding: chunked is
// read as chunked, the Content-Length dropped, as net/http does (RFC 9112
// section 6.3 allows it; the differential fuzz test holds us to net/http).
func TestContentLengthAndChunked(t *testing.T) {
	url, _ := rawServer(t, replies("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	tr, _ := newTransport(t)
	resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "hello" || resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("body %q, err %v, CL %d, header %v", b, err, resp.ContentLength, resp.Header)
	}
}

func TestTruncatedBody(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
	} {
		url, _ := rawServer(t, replies(answer))
		tr, d := newTransport(t)
		resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%q: body err %v, want io.ErrUnexpectedEOF", answer, err)
		}
		resp.Body.Close()
		waitFor(t, "the conn to close", func() bool { return d.open.Load() == 0 })
	}
}

func TestUnsolicitedBytesNotReused(t *testing.T) {
	notReused(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", "ok")
}

// staleAfterOne answers the first request of a conn; the second it reads
// and drops, closing the conn as a server whose keep-alive timeout fired.
func staleAfterOne(nc net.Conn, br *bufio.Reader) {
	replies("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")(nc, br)
	readRequest(br)
}

func TestStaleConnRetried(t *testing.T) {
	url, accepts := rawServer(t, staleAfterOne)
	tr, _ := newTransport(t)
	get(t, tr, url)
	if code, body := get(t, tr, url); code != 200 || body != "ok" {
		t.Fatalf("%d %q", code, body)
	}
	if n := accepts.Load(); n != 2 {
		t.Fatalf("%d conns, want 2", n)
	}
	// A POST with GetBody (set by NewRequest) and an Idempotency-Key too.
	req := mustReq(t, "POST", url, "body")
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := accepts.Load(); n != 3 {
		t.Fatalf("%d conns, want 3", n)
	}
}

func TestStalePostNotRetried(t *testing.T) {
	url, accepts := rawServer(t, staleAfterOne)
	tr, _ := newTransport(t)
	get(t, tr, url)
	_, err := tr.RoundTrip(mustReq(t, "POST", url, "body"))
	if err == nil || errors.Is(err, ErrNothingWritten) {
		t.Fatalf("err %v, want a failure that is not ErrNothingWritten", err)
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d conns, want 1 (no retry)", n)
	}
}

// A pooled conn the server closed while idle is found closed before the
// request is sent, and another is used: a POST, which must not be retried
// once sent, goes through. Its check is the exchange's for a request
// without a body, a probe before the body is read for one with a body, or
// the pool's probe on a conn that is not an Exchanger.
func TestClosedIdleConnProbed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no liveness probe on " + runtime.GOOS)
	}
	for _, m := range checkModes {
		for _, body := range []string{"", "body"} {
			t.Run(m.name+"/body="+body, func(t *testing.T) {
				url, accepts := rawServer(t, replies("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				tr, d := newTransport(t)
				d.noExchange = m.noExchange
				get(t, tr, url)
				p := tr.pool(strings.TrimPrefix(url, "http://"))
				waitFor(t, "the client to see the close", func() bool {
					p.mu.Lock()
					defer p.mu.Unlock()
					return len(p.idle) == 1 && !p.idle[0].probe.ok()
				})
				resp, err := tr.RoundTrip(mustReq(t, "POST", url, body))
				if err != nil {
					t.Fatalf("POST after the server closed the idle conn: %v", err)
				}
				resp.Body.Close()
				if n := accepts.Load(); n != 2 {
					t.Fatalf("%d conns, want 2", n)
				}
			})
		}
	}
}

func TestBodyCloseEarly(t *testing.T) {
	// The rest of a small Content-Length body is buffered: the conn is kept.
	url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	tr, _ := newTransport(t)
	for i := 0; i < 3; i++ {
		resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Read(make([]byte, 2))
		resp.Body.Close()
		if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
			t.Fatal("read after close succeeded")
		}
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d conns, want 1", n)
	}
	// A chunked body closed early: the conn goes.
	url, accepts = rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	for i := 0; i < 2; i++ {
		resp, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := accepts.Load(); n != 2 {
		t.Fatalf("%d conns, want 2", n)
	}
}
