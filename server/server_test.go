package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitLimit bounds every wait of these tests: it is an upper bound for
// something that must happen, never a pause that something is hoped to fit
// in, so that a loaded machine only makes the tests slower, never wrong.
const waitLimit = 10 * time.Second

// logBuffer collects a Server's ErrorLog, for tests that check what the
// server logged. Its methods may be called from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testServer is a Server serving on a loopback listener.
type testServer struct {
	*Server
	addr      string
	logs      *logBuffer
	serveDone chan struct{} // closed once Serve returned
	serveErr  error         // what Serve returned, once serveDone is closed
}

// startServer serves h on 127.0.0.1 with a fresh Server, which configure
// may adjust before Serve is called. The server logs into ts.logs. On
// cleanup it closes the server and fails the test if a connection is still
// being served (a handler left blocked, a goroutine leaked) or Serve did
// not return ErrServerClosed.
func startServer(t testing.TB, h http.Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, ln, h, configure...)
}

// startServerOn is startServer on the listener ln.
func startServerOn(t testing.TB, ln net.Listener, h http.Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	logs := &logBuffer{}
	s := &Server{Handler: h, ErrorLog: log.New(logs, "", 0)}
	for _, f := range configure {
		f(s)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), logs: logs, serveDone: make(chan struct{})}
	go func() {
		ts.serveErr = s.Serve(ln)
		close(ts.serveDone)
	}()
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("a connection was still served %v after Close: %v", waitLimit, err)
		}
		ts.waitServe(t)
	})
	return ts
}

// waitServe waits for Serve to return and checks that it returned
// ErrServerClosed.
func (ts *testServer) waitServe(t testing.TB) {
	t.Helper()
	select {
	case <-ts.serveDone:
		if ts.serveErr != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", ts.serveErr)
		}
	case <-time.After(waitLimit):
		t.Errorf("Serve did not return within %v", waitLimit)
	}
}

func (ts *testServer) url(path string) string { return "http://" + ts.addr + path }

// gate is a channel closed once, by the test or by its cleanup, so that a
// handler blocked on it never outlives a failed test.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

// newGate returns a closed gate. A test that blocks a handler on it
// registers g.open with t.Cleanup after startServer, so that the cleanup
// releases the handler before the server's cleanup waits for it.
func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// wait waits for ch to be closed or to deliver, failing the test after
// waitLimit.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		panic("unreachable")
	}
}

// newClient returns an http.Client with a transport of its own, so that no
// test shares connections with another.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit}
}

// rawConn is a client that writes request bytes itself and reads the
// answers as they are on the wire.
type rawConn struct {
	t  testing.TB
	c  *net.TCPConn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("writing the request: %v", err)
	}
}

// read reads one answer to a request of the given method, 1xx included.
func (rc *rawConn) read(method string) *rawResponse {
	rc.t.Helper()
	r, err := readRawResponse(rc.br, method)
	if err != nil {
		rc.t.Fatalf("reading the answer: %v", err)
	}
	return r
}

// readHead reads an answer's status line and header fields only.
func (rc *rawConn) readHead() *rawResponse {
	rc.t.Helper()
	r, err := readRawHead(rc.br)
	if err != nil {
		rc.t.Fatalf("reading the answer's header: %v", err)
	}
	return r
}

// expectClosed checks that the server closed the connection, with no byte
// before the end.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	rest, err := io.ReadAll(rc.br)
	if len(rest) > 0 {
		rc.t.Fatalf("read %q where the connection should have closed", rest)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		rc.t.Fatalf("the connection was not closed: %v", err)
	}
}

// rawResponse is an answer as it was on the wire.
type rawResponse struct {
	proto, reason string
	status        int
	lines         []string // the header field lines, as sent
	header        http.Header
	chunked       bool
	body          []byte
	trailerLines  []string
	trailer       http.Header
}

// readRawFields reads field lines up to the empty line, and parses them
// leniently: a line without a colon is kept in lines only.
func readRawFields(tp *textproto.Reader) (lines []string, h http.Header, err error) {
	h = make(http.Header)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return lines, h, err
		}
		if line == "" {
			return lines, h, nil
		}
		lines = append(lines, line)
		if k, v, ok := strings.Cut(line, ":"); ok {
			k = textproto.CanonicalMIMEHeaderKey(k)
			h[k] = append(h[k], strings.TrimSpace(v))
		}
	}
}

func readRawHead(br *bufio.Reader) (*rawResponse, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		return nil, fmt.Errorf("malformed status line %.100q", line)
	}
	r := &rawResponse{proto: proto, status: status, reason: reason}
	r.lines, r.header, err = readRawFields(tp)
	if err != nil {
		return nil, err
	}
	te := r.header["Transfer-Encoding"]
	r.chunked = len(te) > 0 && te[len(te)-1] == "chunked"
	return r, nil
}

func readRawResponse(br *bufio.Reader, method string) (*rawResponse, error) {
	r, err := readRawHead(br)
	if err != nil {
		return nil, err
	}
	switch {
	case r.status/100 == 1 || r.status == 204 || r.status == 304 || method == "HEAD":
	case r.chunked:
		tp := textproto.NewReader(br)
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return nil, err
			}
			size, _, _ := strings.Cut(line, ";")
			n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("malformed chunk size line %q", line)
			}
			if n == 0 {
				break
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(br, chunk); err != nil {
				return nil, err
			}
			if string(chunk[n:]) != "\r\n" {
				return nil, fmt.Errorf("chunk of %d bytes not followed by CRLF", n)
			}
			r.body = append(r.body, chunk[:n]...)
		}
		r.trailerLines, r.trailer, err = readRawFields(tp)
		if err != nil {
			return nil, err
		}
	case len(r.header["Content-Length"]) > 0:
		if len(r.header["Content-Length"]) > 1 {
			return nil, fmt.Errorf("%d Content-Length fields", len(r.header["Content-Length"]))
		}
		n, err := strconv.ParseInt(r.header.Get("Content-Length"), 10, 64)
		if err != nil {
			return nil, err
		}
		r.body = make([]byte, n)
		if _, err := io.ReadFull(br, r.body); err != nil {
			return nil, err
		}
	default: // delimited by the connection's end
		r.body, err = io.ReadAll(br)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkOK checks a 200 answer's body.
func (r *rawResponse) checkOK(t testing.TB, body string) {
	t.Helper()
	if r.status != 200 || string(r.body) != body {
		t.Fatalf("got %d with body %q, want 200 with %q", r.status, r.body, body)
	}
}

// checkLength checks that the answer is framed by a Content-Length of its
// body's length (and not chunked).
func (r *rawResponse) checkLength(t testing.TB) {
	t.Helper()
	want := []string{strconv.Itoa(len(r.body))}
	if got := r.header["Content-Length"]; !equalStrings(got, want) || r.chunked {
		t.Fatalf("Content-Length %q, chunked %v; want %q, not chunked", got, r.chunked, want)
	}
}

func (r *rawResponse) checkChunked(t testing.TB) {
	t.Helper()
	if !r.chunked || len(r.header["Transfer-Encoding"]) != 1 || r.header["Content-Length"] != nil {
		t.Fatalf("Transfer-Encoding %q, Content-Length %q; want chunked alone", r.header["Transfer-Encoding"], r.header["Content-Length"])
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasToken(h http.Header, key, token string) bool {
	for _, v := range h[key] {
		for _, e := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(e), token) {
				return true
			}
		}
	}
	return false
}

// TestKeepAliveGET proves that two requests share a connection and that an
// answer whose handler set nothing gets a Date, a computed Content-Length
// and a sniffed Content-Type.
func TestKeepAliveGET(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html><body>%s</body></html>", r.URL.Path)
	}))
	rc := dialRaw(t, ts.addr)
	for _, path := range []string{"/one", "/two"} {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: example.test\r\n\r\n")
		r := rc.read("GET")
		r.checkOK(t, "<html><body>"+path+"</body></html>")
		r.checkLength(t)
		if r.proto != "HTTP/1.1" || r.reason != "OK" {
			t.Errorf("status line %q %d %q", r.proto, r.status, r.reason)
		}
		if got := r.header["Content-Type"]; !equalStrings(got, []string{"text/html; charset=utf-8"}) {
			t.Errorf("Content-Type %q, want the sniffed text/html", got)
		}
		if d := r.header["Date"]; len(d) != 1 {
			t.Errorf("Date fields %q, want one", d)
		} else if when, err := http.ParseTime(d[0]); err != nil {
			t.Errorf("Date %q: %v", d[0], err)
		} else if since := time.Since(when); since < -time.Hour || since > time.Hour {
			t.Errorf("Date %q is not now", d[0])
		}
		if hasToken(r.header, "Connection", "close") {
			t.Errorf("Connection: close on a kept-alive request")
		}
	}
}

// TestClientKeepAlive proves that net/http's client reuses one connection
// for sequential requests, GETs and POSTs with bodies alike.
func TestClientKeepAlive(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the body: %v", err)
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	client := newClient(t)
	for i := range 10 {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		})
		method, body, reader := "GET", "", io.Reader(nil)
		if i%2 == 1 {
			method, body = "POST", strings.Repeat("x", i*1000)
			reader = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, ts.url(fmt.Sprintf("/%d", i)), reader)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s /%d %s", method, i, body); string(got) != want {
			t.Fatalf("request %d: got %q, want %q", i, got, want)
		}
		if i > 0 && !reused {
			t.Fatalf("request %d did not reuse the connection", i)
		}
	}
}

// TestConcurrentClients runs many connections at once, for the race
// detector's sake: the pools, the Date cache and the connection set are
// shared between connections.
func TestConcurrentClients(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.URL.Path)
	}))
	client := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				path := fmt.Sprintf("/%d/%d", g, i)
				resp, err := client.Post(ts.url(path), "text/plain", strings.NewReader(path))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != path {
					errs <- fmt.Errorf("%s: got %q, %v", path, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestContentTypeSniffing proves that a missing Content-Type is guessed
// from the body's first bytes as net/http does, and only then: not when the
// handler set one (even to nothing), nor when it set a Content-Encoding,
// nor for an empty body.
func TestContentTypeSniffing(t *testing.T) {
	big := "<html>" + strings.Repeat("x", 10000)
	tests := []struct {
		name   string
		set    func(http.Header)
		body   string
		want   []string
		length bool // framed by a Content-Length rather than chunked
	}{
		{"html", nil, "<html><p>hi</p></html>", []string{"text/html; charset=utf-8"}, true},
		{"text", nil, "hello, world", []string{"text/plain; charset=utf-8"}, true},
		{"binary", nil, "\x00\x01\x02\x03", []string{"application/octet-stream"}, true},
		{"set", func(h http.Header) { h.Set("Content-Type", "application/json") }, "<html>", []string{"application/json"}, true},
		{"set to nothing", func(h http.Header) { h["Content-Type"] = nil }, "<html>", nil, true},
		{"encoded", func(h http.Header) { h.Set("Content-Encoding", "gzip") }, "\x1f\x8b\x08\x00", nil, true},
		{"empty", nil, "", nil, true},
		{"large", nil, big, []string{"text/html; charset=utf-8"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.set != nil {
					tt.set(w.Header())
				}
				io.WriteString(w, tt.body)
			}))
			rc := dialRaw(t, ts.addr)
			rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			r := rc.read("GET")
			r.checkOK(t, tt.body)
			if got := r.header["Content-Type"]; !equalStrings(got, tt.want) {
				t.Errorf("Content-Type %q, want %q", got, tt.want)
			}
			if tt.length {
				r.checkLength(t)
			} else {
				r.checkChunked(t)
			}
		})
	}
}

// TestSniffAcrossWrites proves that the Content-Type is guessed from the
// body's first 512 bytes even when they span several writes and the answer
// outgrows the server's hold, as net/http guesses it (its buffer holds
// them): "<htm" then "l>..." is HTML, though "<htm" alone is text.
func TestSniffAcrossWrites(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<htm")
		io.WriteString(w, "l><body>"+strings.Repeat("x", 5000))
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := rc.read("GET")
	r.checkChunked(t)
	if got := r.header["Content-Type"]; !equalStrings(got, []string{"text/html; charset=utf-8"}) {
		t.Errorf("Content-Type %q, want text/html", got)
	}
}

// TestSniffAcrossWritesDeclaredLength proves that a missing Content-Type is
// sniffed from the body's start even when the handler declared its length
// and wrote the start in small pieces, as net/http, whose buffer holds them:
// "00000000" alone is text, and the binary byte of the next write makes the
// body octets (found by FuzzAnswer).
func TestSniffAcrossWritesDeclaredLength(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "9")
		io.WriteString(w, "00000000")
		io.WriteString(w, "\b")
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := rc.read("GET")
	r.checkOK(t, "00000000\b")
	if got := r.header["Content-Type"]; !equalStrings(got, []string{"application/octet-stream"}) {
		t.Errorf("Content-Type %q, want application/octet-stream", got)
	}
}

// TestUnreadBodyKeepsAnswer proves that a connection closed after an answer
// whose request body the handler left unread drains the body before it
// closes, so that a client reading slowly through a small window gets the
// whole answer. Closing with the client's bytes unread makes the kernel
// reset the connection and drop what it had not sent yet. Both cases were
// found by FuzzAnswer: a body too large to discard, after which the server
// closed as soon as it had read 256 KiB more of it; and an answer that
// closes the connection anyway (here the handler's "Connection: close"),
// after which it closed without reading the body at all.
func TestUnreadBodyKeepsAnswer(t *testing.T) {
	const answer = 4 << 20
	for _, tc := range []struct {
		name  string
		body  int
		close bool
	}{
		{"too large to discard", 1 << 20, false},
		{"answer closes", 128 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.close {
					w.Header().Set("Connection", "close")
				}
				w.Header().Set("Content-Length", strconv.Itoa(answer))
				w.Write(make([]byte, answer))
			}))
			rc := dialRaw(t, ts.addr)
			// A receive buffer of a fixed size (the kernel's tuning
			// grows it) keeps much of the answer in the server's socket
			// until the client reads it; not below the loopback's
			// segment size, or the client's window updates wait for
			// the sender's probes.
			if err := rc.c.SetReadBuffer(256 << 10); err != nil {
				t.Fatal(err)
			}
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(tc.body) + "\r\n\r\n")
			wrote := make(chan error, 1)
			go func() {
				_, err := rc.c.Write(make([]byte, tc.body))
				wrote <- err
			}()
			r := rc.readHead()
			if !hasToken(r.header, "Connection", "close") {
				t.Fatalf("no Connection: close: %q", r.lines)
			}
			// A slow reader, 64 KiB at a time: the server's close, once
			// it has drained the body, must not cut what its kernel has
			// not sent yet, however long the client takes.
			got, buf := 0, make([]byte, 64<<10)
			for got < answer {
				n, err := io.ReadFull(rc.br, buf[:min(len(buf), answer-got)])
				got += n
				if err != nil {
					t.Fatalf("read %d of the answer's %d bytes: %v", got, answer, err)
				}
				time.Sleep(time.Millisecond)
			}
			rc.c.Close()
			<-wrote
		})
	}
}

// TestResponseFraming proves how an HTTP/1.1 answer is framed: a body that
// ends within the server's 4096-byte hold gets a Content-Length, a longer
// one without a declared length is chunked, a declared length is kept, and
// a flush before the end chunks the answer. Each connection then serves a
// second request, which shows that the framing was exact.
func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		body    string
		chunked bool
	}{
		{"empty", func(w http.ResponseWriter) {}, "", false},
		{"small", func(w http.ResponseWriter) { io.WriteString(w, "0123456789") }, "0123456789", false},
		{"exactly the hold", func(w http.ResponseWriter) { io.WriteString(w, strings.Repeat("a", 4096)) }, strings.Repeat("a", 4096), false},
		{"one over the hold", func(w http.ResponseWriter) { io.WriteString(w, strings.Repeat("b", 4097)) }, strings.Repeat("b", 4097), true},
		{"many small writes", func(w http.ResponseWriter) {
			for range 1000 {
				io.WriteString(w, "0123456789")
			}
		}, strings.Repeat("0123456789", 1000), true},
		{"declared length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "10000")
			for range 10 {
				io.WriteString(w, strings.Repeat("c", 1000))
			}
		}, strings.Repeat("c", 10000), false},
		{"flushed", func(w http.ResponseWriter) {
			io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			io.WriteString(w, "def")
		}, "abcdef", true},
		{"status only", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/next" {
					io.WriteString(w, "next")
					return
				}
				tt.handler(w)
			}))
			rc := dialRaw(t, ts.addr)
			rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			r := rc.read("GET")
			if string(r.body) != tt.body {
				t.Fatalf("body of %d bytes, want %d", len(r.body), len(tt.body))
			}
			if tt.chunked {
				r.checkChunked(t)
			} else {
				r.checkLength(t)
			}
			rc.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
			rc.read("GET").checkOK(t, "next")
		})
	}
}

// TestHTTP10 proves the keep-alive rules for HTTP/1.0 clients: without
// "Connection: keep-alive" the connection closes after the answer; with it,
// the connection stays open when the answer's length is known, and the
// answer says "Connection: keep-alive"; an answer of unknown length is
// delimited by the connection's end (HTTP/1.0 has no chunking).
func TestHTTP10(t *testing.T) {
	big := strings.Repeat("z", 10000)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/declared":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			io.WriteString(w, big)
		default:
			io.WriteString(w, "small")
		}
	}))

	t.Run("close", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("GET / HTTP/1.0\r\n\r\n")
		r := rc.read("GET")
		r.checkOK(t, "small")
		if r.proto != "HTTP/1.0" {
			t.Errorf("status line of %s, want HTTP/1.0", r.proto)
		}
		if hasToken(r.header, "Connection", "keep-alive") {
			t.Errorf("Connection: keep-alive to a client that did not ask")
		}
		rc.expectClosed()
	})
	t.Run("close, unknown length", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /big HTTP/1.0\r\n\r\n")
		r := rc.read("GET") // reads to the connection's end
		r.checkOK(t, big)
		if r.chunked || r.header["Content-Length"] != nil {
			t.Errorf("Transfer-Encoding %q, Content-Length %q for HTTP/1.0; want neither", r.header["Transfer-Encoding"], r.header["Content-Length"])
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		for _, path := range []string{"/", "/declared", "/"} {
			rc.send("GET " + path + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			r := rc.read("GET")
			r.checkLength(t)
			if got := r.header["Connection"]; !equalStrings(got, []string{"keep-alive"}) {
				t.Fatalf("%s: Connection %q, want keep-alive", path, got)
			}
		}
	})
	t.Run("keep-alive, unknown length", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		r := rc.read("GET")
		r.checkOK(t, big)
		if hasToken(r.header, "Connection", "keep-alive") {
			t.Errorf("Connection: keep-alive on an answer delimited by the connection's end")
		}
	})
}

// TestHEAD proves that an answer to HEAD has no body on the wire, whatever
// the handler wrote, keeps the Content-Length a GET would get, and leaves
// the connection usable.
func TestHEAD(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, strings.Repeat("b", 10000))
		case "/declared":
			w.Header().Set("Content-Length", "1000")
		default:
			io.WriteString(w, "hello world")
		}
	}))
	rc := dialRaw(t, ts.addr)
	wantLength := map[string][]string{"/": {"11"}, "/declared": {"1000"}, "/big": nil}
	for _, path := range []string{"/", "/declared", "/big"} {
		rc.send("HEAD " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		r := rc.read("HEAD")
		if r.status != 200 || r.chunked {
			t.Fatalf("HEAD %s: status %d, chunked %v", path, r.status, r.chunked)
		}
		if got := r.header["Content-Length"]; !equalStrings(got, wantLength[path]) {
			t.Errorf("HEAD %s: Content-Length %q, want %q", path, got, wantLength[path])
		}
		// A body byte on the wire would garble the next answer.
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "hello world")
	}
}

// TestNoBodyStatuses proves that 204 and 304 answers carry no body nor
// framing fields, whatever the handler set, that a 304 drops the
// Content-Type, and that Write says http.ErrBodyNotAllowed.
func TestNoBodyStatuses(t *testing.T) {
	for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			writeErr := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/next" {
					io.WriteString(w, "next")
					return
				}
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Content-Length", "5")
				w.Header().Set("ETag", `"v1"`)
				w.WriteHeader(code)
				_, err := io.WriteString(w, "hello")
				writeErr <- err
			}))
			rc := dialRaw(t, ts.addr)
			rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			r := rc.read("GET")
			if r.status != code {
				t.Fatalf("status %d, want %d", r.status, code)
			}
			if err := wait(t, writeErr, "the handler"); err != http.ErrBodyNotAllowed {
				t.Errorf("Write returned %v, want http.ErrBodyNotAllowed", err)
			}
			if r.header["Content-Length"] != nil || r.header["Transfer-Encoding"] != nil {
				t.Errorf("framing fields %q", r.lines)
			}
			if _, ok := r.header["Content-Type"]; ok != (code != http.StatusNotModified) {
				t.Errorf("Content-Type present: %v", ok)
			}
			if r.header.Get("Etag") != `"v1"` {
				t.Errorf("ETag lost: %q", r.lines)
			}
			rc.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
			rc.read("GET").checkOK(t, "next")
		})
	}
}

// TestDeclaredLengthMismatch proves that writing past a declared
// Content-Length fails with http.ErrContentLength, and so does every write
// after it, even one that would fit (it would put later bytes where the
// refused ones belong); the answer stays well-framed, and the connection
// closes after it, as net/http's does. Writing less closes the connection
// after the answer too, since the client would count bytes that never
// come.
func TestDeclaredLengthMismatch(t *testing.T) {
	errs := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/more":
			w.Header().Set("Content-Length", "5")
			if _, err := io.WriteString(w, "hello"); err != nil {
				errs <- fmt.Errorf("first write: %w", err)
				return
			}
			if _, err := io.WriteString(w, "!"); err != http.ErrContentLength {
				errs <- fmt.Errorf("writing past the length returned %v, want http.ErrContentLength", err)
				return
			}
			_, err := io.WriteString(w, "")
			if err == nil {
				_, err = io.WriteString(w, "?")
			}
			errs <- err
		case "/less":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		default:
			io.WriteString(w, "next")
		}
	}))

	t.Run("more", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /more HTTP/1.1\r\nHost: x\r\n\r\n")
		r := rc.read("GET")
		r.checkOK(t, "hello")
		r.checkLength(t)
		if err := wait(t, errs, "the handler"); err != http.ErrContentLength {
			t.Errorf("a write after the refused one returned %v, want http.ErrContentLength", err)
		}
		if rest, err := io.ReadAll(rc.br); len(rest) != 0 || err != nil {
			t.Errorf("after the answer: %q, %v; want the connection's end", rest, err)
		}
	})
	t.Run("less", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /less HTTP/1.1\r\nHost: x\r\n\r\n")
		r := rc.readHead()
		if got := r.header["Content-Length"]; !equalStrings(got, []string{"10"}) {
			t.Fatalf("Content-Length %q, want the declared 10", got)
		}
		rest, err := io.ReadAll(rc.br)
		if string(rest) != "abc" || err != nil {
			t.Fatalf("after the header: %q, %v; want abc and the connection's end", rest, err)
		}
	})
}

// TestRequestBodies proves that the handler reads bodies framed by a
// Content-Length and chunked (with extensions and trailers), that
// pipelined requests are answered in order, and what becomes of a body the
// handler leaves: a small one is discarded and the connection kept, a large
// one closes the connection after the answer.
func TestRequestBodies(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			io.WriteString(w, "ignored")
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%s %s %d %q", r.Method, b, r.ContentLength, r.Trailer.Get("X-T"))
	}))

	t.Run("content-length", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
		rc.read("POST").checkOK(t, `POST hello world 11 ""`)
	})
	t.Run("chunked", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
			"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n")
		rc.read("PUT").checkOK(t, `PUT hello world -1 "v"`)
	})
	t.Run("pipelined", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none" +
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n" +
			"GET /ignore HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		rc.read("POST").checkOK(t, `POST one 3 ""`)
		rc.read("POST").checkOK(t, `POST two -1 ""`)
		rc.read("GET").checkOK(t, "ignored")
		r := rc.read("GET")
		r.checkOK(t, `GET  0 ""`)
		if !hasToken(r.header, "Connection", "close") {
			t.Errorf("no Connection: close in answer to a request that asked for it: %q", r.lines)
		}
		rc.expectClosed()
	})
	t.Run("small body left unread", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		for _, framing := range []string{"Content-Length: 100\r\n\r\n" + strings.Repeat("x", 100),
			"Transfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("y", 100) + "\r\n0\r\n\r\n"} {
			rc.send("POST /ignore HTTP/1.1\r\nHost: x\r\n" + framing)
			r := rc.read("POST")
			r.checkOK(t, "ignored")
			if hasToken(r.header, "Connection", "close") {
				t.Fatalf("Connection: close after a small unread body")
			}
		}
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnext")
		rc.read("POST").checkOK(t, `POST next 4 ""`)
	})
	t.Run("large body left unread", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		const size = 1 << 20
		rc.send("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
		// The server may stop reading before the body's end: write it
		// aside, and read the answer meanwhile.
		wrote := make(chan error, 1)
		go func() {
			_, err := rc.c.Write(make([]byte, size))
			wrote <- err
		}()
		r := rc.read("POST")
		r.checkOK(t, "ignored")
		if !hasToken(r.header, "Connection", "close") {
			t.Errorf("no Connection: close after a large unread body: %q", r.lines)
		}
		rc.expectClosed()
		rc.c.Close()
		wait(t, wrote, "the body's write to end")
	})
}

// TestMaxBytesReader proves that a handler that stops reading a body at
// http.MaxBytesReader's limit answers, and that the rest of a small body is
// discarded so that the connection serves the next request; and that a
// closed body refuses further reads.
func TestMaxBytesReader(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10))
			var tooBig *http.MaxBytesError
			if !errors.As(err, &tooBig) {
				t.Errorf("reading past the limit: %v", err)
			}
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case "/closed":
			r.Body.Read(make([]byte, 1))
			r.Body.Close()
			if _, err := r.Body.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
				t.Errorf("read after Close: %v", err)
			}
			io.WriteString(w, "closed")
		default:
			io.WriteString(w, "next")
		}
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("POST /limited HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 1000))
	if r := rc.read("POST"); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", r.status)
	}
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("GET").checkOK(t, "next")

	rc = dialRaw(t, ts.addr)
	rc.send("POST /closed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("y", 100))
	rc.read("POST").checkOK(t, "closed")
}

// TestExpectContinue proves the "Expect: 100-continue" exchange: the
// handler's first read of the body sends "100 Continue" before the final
// answer; a handler that answers without reading sends none and closes the
// connection; an HTTP/1.0 client gets none; net/http's client, which waits
// for the 100 before sending the body, gets its answer.
func TestExpectContinue(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			io.WriteString(w, "ignored")
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the body: %v", err)
		}
		fmt.Fprintf(w, "got %s", b)
	}))

	t.Run("read", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		r := rc.read("POST")
		if r.status != 100 || r.proto != "HTTP/1.1" || len(r.lines) != 0 {
			t.Fatalf("got %s %d %q, want a bare HTTP/1.1 100", r.proto, r.status, r.lines)
		}
		rc.send("hello")
		rc.read("POST").checkOK(t, "got hello")
		// And the connection serves another such request.
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
		if r := rc.read("POST"); r.status != 100 {
			t.Fatalf("second request: status %d, want 100", r.status)
		}
		rc.send("abc")
		rc.read("POST").checkOK(t, "got abc")
	})
	t.Run("not read", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		r := rc.read("POST")
		r.checkOK(t, "ignored") // the first answer is not a 100
		if !hasToken(r.header, "Connection", "close") {
			t.Errorf("no Connection: close: %q", r.lines)
		}
		rc.expectClosed()
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.send("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
		r := rc.read("POST")
		r.checkOK(t, "got hello")
		rc.expectClosed()
	})
	t.Run("client", func(t *testing.T) {
		client := newClient(t)
		client.Transport.(*http.Transport).ExpectContinueTimeout = time.Hour
		req, _ := http.NewRequest("POST", ts.url("/"), strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "got payload" {
			t.Fatalf("got %q", b)
		}
	})
}

// checkProblem checks that r is the server's own error answer: the status,
// a problem body (RFC 9457) that says it, and the connection's close.
func checkProblem(t testing.TB, rc *rawConn, r *rawResponse, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d %q, want %d (body %q)", r.status, r.reason, status, r.body)
	}
	if got := r.header.Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", got)
	}
	r.checkLength(t)
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
		ID     string `json:"request_id"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type == "" {
		t.Errorf("problem %+v, want status %d titled %q", p, status, http.StatusText(status))
	}
	// Refused before any handler, the request still gets an id, in the
	// body and in the header alike.
	if p.ID == "" || r.header.Get("X-Request-Id") != p.ID {
		t.Errorf("request id: body %q, header %q, want the same, not empty", p.ID, r.header.Get("X-Request-Id"))
	}
	if !hasToken(r.header, "Connection", "close") {
		t.Errorf("no Connection: close: %q", r.lines)
	}
	rc.expectClosed()
}

// TestBadRequests proves that the server answers what it cannot serve
// itself, with the status net/http would give and a problem body, and
// closes the connection; the handler never runs.
func TestBadRequests(t *testing.T) {
	tests := []struct {
		name, req string
		status    int
	}{
		{"garbage", "GARBAGE\r\n\r\n", 400},
		{"no version", "GET /\r\n\r\n", 400},
		{"bad version", "GET / HTTP/x.y\r\nHost: x\r\n\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"name with a space", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400},
		{"obs-fold first", "GET / HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n", 400},
		{"conflicting Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"bad URI", "GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"truncated header", "GET / HTTP/1.1\r\nHost: x\r\n", 400}, // the client half-closes
		{"gzip transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"two Transfer-Encoding fields", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505},
		{"oversized header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
	}
	ran := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ran <- r.Method + " " + r.RequestURI:
		default:
		}
	}), func(s *Server) { s.MaxHeaderBytes = 1 << 10 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			rc.send(tt.req)
			rc.c.CloseWrite()
			checkProblem(t, rc, rc.read("GET"), tt.status)
			select {
			case req := <-ran:
				t.Errorf("the handler ran for %s", req)
			default:
			}
		})
	}
	// The limit leaves room for a header a little under it.
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 900) + "\r\n\r\n")
	if r := rc.read("GET"); r.status != 200 {
		t.Errorf("a header under MaxHeaderBytes got %d", r.status)
	}
}

// TestHeaderInjection proves that a handler's field values cannot split
// into new fields (or a new answer): line breaks become spaces, as in
// net/http, and fields with invalid names are dropped.
func TestHeaderInjection(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-A"] = []string{"a\r\nX-Injected: 1"}
		h.Add("X-B", "b\nSet-Cookie: evil=1")
		h.Add("X-C", "c\r\n\r\nHTTP/1.1 200 OK")
		h["Bad\r\nX-Injected"] = []string{"2"}
		h["X-Space Name"] = []string{"3"}
		if r.URL.Path == "/103" {
			w.WriteHeader(http.StatusEarlyHints)
		}
		io.WriteString(w, "body")
	}))
	for _, path := range []string{"/", "/103"} {
		rc := dialRaw(t, ts.addr)
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		r := rc.read("GET")
		if path == "/103" {
			if r.status != 103 {
				t.Fatalf("status %d, want 103", r.status)
			}
			if r.header.Get("X-A") != "a  X-Injected: 1" {
				t.Errorf("103: X-A %q", r.header["X-A"])
			}
			r = rc.read("GET")
		}
		r.checkOK(t, "body")
		for _, line := range r.lines {
			k, _, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(k, " \t") || k == "X-Injected" || k == "Set-Cookie" {
				t.Errorf("%s: field line %q", path, line)
			}
		}
		if got := r.header.Get("X-A"); got != "a  X-Injected: 1" {
			t.Errorf("%s: X-A %q", path, got)
		}
		if got := r.header.Get("X-B"); got != "b Set-Cookie: evil=1" {
			t.Errorf("%s: X-B %q", path, got)
		}
		if got := r.header.Get("X-C"); got != "c    HTTP/1.1 200 OK" {
			t.Errorf("%s: X-C %q", path, got)
		}
		// The connection carries exactly one answer more.
		rc.c.CloseWrite()
		rc.expectClosed()
	}
}

// TestTrailers proves that trailers reach the client, both declared in a
// "Trailer" field and named with http.TrailerPrefix, and that they force
// the chunked framing even for a small body. The raw client pipelines a
// second request, so that an answer missing its last chunk shows at once
// (the second answer's status line is read where a chunk size should be).
func TestTrailers(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/declared":
			h.Set("Trailer", "X-Sum, X-Other")
			io.WriteString(w, "abc")
			h.Set("X-Sum", "123")
			h.Set("X-Other", "o")
		case "/prefix":
			h.Set(http.TrailerPrefix+"X-Early", "e0") // replaced below
			io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			h.Set(http.TrailerPrefix+"X-Early", "e")
			h.Set(http.TrailerPrefix+"X-Late", "l")
		case "/prefix-unflushed":
			h.Set(http.TrailerPrefix+"X-Early", "e")
			io.WriteString(w, "abc")
		case "/big":
			h.Set("Trailer", "X-Sum")
			io.WriteString(w, strings.Repeat("x", 5000))
			h.Set("X-Sum", "5000")
		default:
			io.WriteString(w, "abc")
		}
	}))
	tests := map[string]http.Header{
		"/declared":         {"X-Sum": {"123"}, "X-Other": {"o"}},
		"/prefix":           {"X-Early": {"e"}, "X-Late": {"l"}},
		"/prefix-unflushed": {"X-Early": {"e"}},
		"/big":              {"X-Sum": {"5000"}},
	}
	for path, want := range tests {
		rc := dialRaw(t, ts.addr)
		rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		r := rc.read("GET")
		r.checkChunked(t)
		for k, v := range want {
			if got := r.trailer[k]; !equalStrings(got, v) {
				t.Errorf("%s: trailer %s = %q, want %q (trailer lines %q)", path, k, got, v, r.trailerLines)
			}
			if r.header[k] != nil {
				t.Errorf("%s: %s among the header fields %q", path, k, r.lines)
			}
		}
		if path == "/declared" && r.header.Get("Trailer") != "X-Sum, X-Other" {
			t.Errorf("%s: header fields %q", path, r.lines)
		}
		rc.read("GET").checkOK(t, "abc")
	}
	if t.Failed() {
		return // net/http's client would wait for the missing end
	}
	client := newClient(t)
	for path, want := range tests {
		resp, err := client.Get(ts.url(path))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for k, v := range want {
			if got := resp.Trailer[k]; !equalStrings(got, v) {
				t.Errorf("%s: client's trailer %s = %q, want %q (trailers %q)", path, k, got, v, resp.Trailer)
			}
		}
	}
}

// TestHandlerChunked proves that an answer the handler declared chunked
// itself is well framed, its body small or not.
func TestHandlerChunked(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			io.WriteString(w, "next")
			return
		}
		w.Header().Set("Transfer-Encoding", "chunked")
		io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/"))
	}))
	for _, body := range []string{"", "small", strings.Repeat("b", 5000)} {
		rc := dialRaw(t, ts.addr)
		rc.send("GET /" + body + " HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		r := rc.read("GET")
		r.checkChunked(t)
		if string(r.body) != body {
			t.Errorf("body of %d bytes, want %d", len(r.body), len(body))
		}
		rc.read("GET").checkOK(t, "next")
	}
}

// TestFlush proves that Flush sends what was written before the handler
// returns: the client reads the first bytes while the handler still waits.
func TestFlush(t *testing.T) {
	release := newGate()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		<-release.ch
		io.WriteString(w, "second")
	}))
	t.Cleanup(release.open)
	resp, err := newClient(t).Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first,"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first," {
		t.Fatalf("read %q, %v before the handler's end", first, err)
	}
	if !equalStrings(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Transfer-Encoding %q, want chunked", resp.TransferEncoding)
	}
	release.open()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("then %q, %v", rest, err)
	}
}

// TestInformational proves that a 1xx answer (103 Early Hints, with the
// fields set so far) goes out before the final one, whose fields include
// those of the 1xx, and that HTTP/1.0 clients, which have no use for a 1xx,
// get the final answer only.
func TestInformational(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "final")
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := rc.read("GET")
	if r.status != 103 || r.header.Get("Link") != "</style.css>; rel=preload; as=style" {
		t.Fatalf("first answer %d with %q, want 103 with the Link", r.status, r.lines)
	}
	if r.header["Content-Length"] != nil || r.header["Content-Type"] != nil {
		t.Errorf("103 with fields %q", r.lines)
	}
	r = rc.read("GET")
	r.checkOK(t, "final")
	if r.header.Get("Link") == "" || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("final answer's fields %q", r.lines)
	}

	rc = dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.0\r\n\r\n")
	rc.read("GET").checkOK(t, "final")
}

// TestHijack proves that a handler can take the connection over: the bytes
// the client sent after the request are in the returned reader, what the
// handler writes reaches the client, and the ResponseWriter refuses
// further use.
func TestHijack(t *testing.T) {
	errs := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errs <- func() error {
			nc, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return err
			}
			defer nc.Close()
			if _, _, err := w.(http.Hijacker).Hijack(); err != http.ErrHijacked {
				return fmt.Errorf("second Hijack: %v", err)
			}
			if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
				return fmt.Errorf("Write after Hijack: %v", err)
			}
			line, err := brw.ReadString('\n')
			if err != nil {
				return err
			}
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\nyou said " + line)
			return brw.Flush()
		}()
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello\n")
	r := rc.read("GET")
	if r.status != 101 {
		t.Fatalf("status %d", r.status)
	}
	if err := wait(t, errs, "the handler"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc.br)
	if string(rest) != "you said hello\n" || err != nil {
		t.Fatalf("after the 101: %q, %v", rest, err)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "Write on a hijacked connection") {
		t.Errorf("the misuse was not logged: %q", logs)
	}
}

// TestHijackAfterWriteHeader proves that a status given before Hijack is
// sent before the connection changes hands.
func TestHijackAfterWriteHeader(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "test")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		nc, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		io.WriteString(nc, "raw")
		nc.Close()
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	r := rc.read("GET")
	if r.status != 101 || r.header.Get("Upgrade") != "test" || !hasToken(r.header, "Connection", "upgrade") {
		t.Fatalf("got %d %q", r.status, r.lines)
	}
	if rest, err := io.ReadAll(rc.br); string(rest) != "raw" || err != nil {
		t.Fatalf("then %q, %v", rest, err)
	}
}

// TestHijackAfterWatch proves that Hijack hands over every byte the client
// sent, the one the watch may have read from the connection included: the
// watch starts with the request (negative WatchAfter) and is blocked in a
// read when the client sends more.
func TestHijackAfterWatch(t *testing.T) {
	gates := make(chan *gate, 1) // each request's: open once the client sent more
	started := make(chan struct{}, 1)
	got := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent := <-gates
		started <- struct{}{}
		<-sent.ch
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			got <- ""
			return
		}
		defer nc.Close()
		line, _ := brw.ReadString('\n')
		got <- line
	}), func(s *Server) { s.WatchAfter = -1 })
	for range 3 {
		sent := newGate()
		t.Cleanup(sent.open)
		gates <- sent
		rc := dialRaw(t, ts.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		wait(t, started, "the handler")
		rc.send("hello\n") // the watch, blocked in a read, takes the "h"
		sent.open()
		if line := wait(t, got, "the handler"); line != "hello\n" {
			t.Fatalf("the hijacker read %q, want %q", line, "hello\n")
		}
	}
}

// TestRequestContext proves what a handler's request carries: RemoteAddr is
// the client's address, the context has http.LocalAddrContextKey, and the
// context is cancelled once the handler returned.
func TestRequestContext(t *testing.T) {
	type seen struct {
		remote string
		local  any
		ctx    context.Context
		err    error
	}
	seenc := make(chan seen, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenc <- seen{r.RemoteAddr, r.Context().Value(http.LocalAddrContextKey), r.Context(), r.Context().Err()}
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("GET")
	s := wait(t, seenc, "the handler")
	if s.remote != rc.c.LocalAddr().String() {
		t.Errorf("RemoteAddr %q, want %q", s.remote, rc.c.LocalAddr())
	}
	if a, ok := s.local.(net.Addr); !ok || a.String() != ts.addr {
		t.Errorf("LocalAddrContextKey %v, want %s", s.local, ts.addr)
	}
	if s.err != nil {
		t.Errorf("the context was done while the handler ran: %v", s.err)
	}
	wait(t, s.ctx.Done(), "the context's cancellation after the handler")
}

// TestWatchClientGone proves that a handler waiting on its request's
// context is released when the client leaves, whether the watch starts at
// once (negative WatchAfter), after a short while, or after the default,
// and for a request whose body was read first.
func TestWatchClientGone(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after time.Duration
		req   string
	}{
		{"from the start", -1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"after 1ms", time.Millisecond, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"after the default", 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"after the body", -1, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"},
		{"after a chunked body", time.Millisecond, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			released := make(chan error, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				close(started)
				<-r.Context().Done()
				released <- r.Context().Err()
			}), func(s *Server) { s.WatchAfter = tt.after })
			rc := dialRaw(t, ts.addr)
			rc.send(tt.req)
			wait(t, started, "the handler")
			rc.c.Close()
			if err := wait(t, released, "the handler's release"); err != context.Canceled {
				t.Errorf("context error %v, want context.Canceled", err)
			}
		})
	}
}

// TestWatchKeepsRequests proves that the watch does not cancel a request
// whose client stays, and does not lose the next request's bytes when the
// client sends them while the handler runs (the watch reads them).
func TestWatchKeepsRequests(t *testing.T) {
	for _, after := range []time.Duration{-1, time.Millisecond, 0} {
		t.Run(after.String(), func(t *testing.T) {
			// Each /wait request takes its gate from gates.
			gates := make(chan *gate, 1)
			started := make(chan struct{}, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/wait" {
					release := <-gates
					started <- struct{}{}
					<-release.ch
				}
				if err := r.Context().Err(); err != nil {
					t.Errorf("%s: context done while the client stays: %v", r.URL.Path, err)
				}
				io.WriteString(w, r.Method+" "+r.URL.Path)
			}), func(s *Server) { s.WatchAfter = after })
			rc := dialRaw(t, ts.addr)
			for range 5 {
				release := newGate()
				t.Cleanup(release.open)
				gates <- release
				rc.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
				wait(t, started, "the handler")
				// The next request, while the first runs: the watch
				// (if it started) reads its first byte.
				rc.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
				release.open()
				rc.read("GET").checkOK(t, "GET /wait")
				rc.read("GET").checkOK(t, "GET /next")
			}
		})
	}
}

// TestPanic proves that a panicking handler costs its connection only: the
// panic is logged (except http.ErrAbortHandler), the connection closes,
// and the server goes on serving.
func TestPanic(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			io.WriteString(w, "partial")
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/code":
			w.WriteHeader(42)
		}
		io.WriteString(w, "fine")
	}))

	rc := dialRaw(t, ts.addr)
	rc.send("GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.expectClosed()
	if logs := ts.logs.String(); logs != "" {
		t.Errorf("http.ErrAbortHandler was logged: %q", logs)
	}

	rc = dialRaw(t, ts.addr)
	rc.send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.expectClosed()
	if logs := ts.logs.String(); !strings.Contains(logs, "panic serving") || !strings.Contains(logs, "boom") {
		t.Errorf("the panic was not logged: %q", logs)
	}

	rc = dialRaw(t, ts.addr)
	rc.send("GET /code HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.expectClosed()
	if logs := ts.logs.String(); !strings.Contains(logs, "invalid WriteHeader code 42") {
		t.Errorf("WriteHeader(42) did not panic: %q", logs)
	}

	rc = dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("GET").checkOK(t, "fine")
}

// TestSuperfluousWriteHeader proves that a second WriteHeader is logged
// and ignored.
func TestSuperfluousWriteHeader(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "created")
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := rc.read("GET"); r.status != http.StatusCreated || string(r.body) != "created" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "superfluous WriteHeader") {
		t.Errorf("not logged: %q", logs)
	}
}

// TestShutdownIdle proves that Shutdown closes a kept-alive connection that
// waits for its next request, returns nil once none is left, makes Serve
// return ErrServerClosed, and makes a later Serve return it at once.
func TestShutdownIdle(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("GET").checkOK(t, "ok")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rc.expectClosed()
	ts.waitServe(t)
	// A connection made now finds no server.
	if c, err := net.Dial("tcp", ts.addr); err == nil {
		rc := &rawConn{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
		c.SetDeadline(time.Now().Add(waitLimit))
		rc.expectClosed()
		c.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Serve(ln); err != ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Errorf("Serve after Shutdown left its listener open")
	}
}

// TestShutdownSilent proves that Shutdown closes a connection whose client
// never sent a request.
func TestShutdownSilent(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rc := dialRaw(t, ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rc.expectClosed()
}

// TestShutdownInFlight proves that Shutdown lets a request in flight
// finish, its answer saying "Connection: close", and returns nil only then.
func TestShutdownInFlight(t *testing.T) {
	started := make(chan struct{})
	release := newGate()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release.ch
		io.WriteString(w, "done")
	}))
	t.Cleanup(release.open)
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	wait(t, started, "the handler")

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	ts.waitServe(t) // Shutdown began: the listener is closed
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	default:
	}
	release.open()
	r := rc.read("GET")
	r.checkOK(t, "done")
	if !hasToken(r.header, "Connection", "close") {
		t.Errorf("no Connection: close during Shutdown: %q", r.lines)
	}
	rc.expectClosed()
	if err := wait(t, shut, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownContext proves that Shutdown gives up with its context's
// error when the context ends before the requests in flight.
func TestShutdownContext(t *testing.T) {
	started := make(chan struct{})
	release := newGate()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release.ch
	}))
	t.Cleanup(release.open)
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	wait(t, started, "the handler")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); err != context.Canceled {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
	release.open()
	rc.read("GET")
}

// TestClose proves that Close ends every connection at once, a request in
// flight included, and makes Serve return ErrServerClosed.
func TestClose(t *testing.T) {
	started := make(chan struct{})
	release := newGate()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			close(started)
			<-release.ch
		}
	}))
	t.Cleanup(release.open)
	idle := dialRaw(t, ts.addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	busy := dialRaw(t, ts.addr)
	busy.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
	wait(t, started, "the handler")
	if err := ts.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	idle.expectClosed()
	busy.expectClosed()
	ts.waitServe(t)
	release.open()
}

// TestReadHeaderTimeout proves that a client that stalls within its
// request's header loses its connection, with no answer.
func TestReadHeaderTimeout(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		func(s *Server) { s.ReadHeaderTimeout = 100 * time.Millisecond })
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n")
	rc.expectClosed()
}

// TestIdleTimeout proves that a kept-alive connection that waits too long
// for its next request is closed, by IdleTimeout or, without one, by
// ReadHeaderTimeout.
func TestIdleTimeout(t *testing.T) {
	for _, configure := range []func(*Server){
		func(s *Server) { s.IdleTimeout = 100 * time.Millisecond },
		func(s *Server) { s.ReadHeaderTimeout = 100 * time.Millisecond },
	} {
		ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), configure)
		rc := dialRaw(t, ts.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
		rc.expectClosed()
	}
}

// TestFullDuplex proves that a handler that enabled full duplex through
// http.ResponseController can echo a streamed body piece by piece: each
// piece's echo reaches the client before it sends the next.
func TestFullDuplex(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(waitLimit)); err != nil {
			t.Error(err)
		}
		w.WriteHeader(200)
		rc.Flush()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				if err := rc.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
			if err != nil {
				return
			}
		}
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	r := rc.readHead()
	r.checkChunked(t)
	tp := textproto.NewReader(rc.br)
	for _, piece := range []string{"one", "two", "three"} {
		rc.send(fmt.Sprintf("%x\r\n%s\r\n", len(piece), piece))
		size, err := tp.ReadLine()
		if err != nil || size != fmt.Sprintf("%x", len(piece)) {
			t.Fatalf("chunk size line %q, %v", size, err)
		}
		data, err := tp.ReadLine()
		if err != nil || data != piece {
			t.Fatalf("chunk %q, %v; want %q", data, err, piece)
		}
	}
	rc.send("0\r\n\r\n")
	if line, err := tp.ReadLine(); line != "0" || err != nil {
		t.Fatalf("last chunk %q, %v", line, err)
	}
}

// TestHostHeaderRemoved proves what net/http documents for a server's
// requests: "the Host header is promoted to the Request.Host field and
// removed from the Header map". Handlers written for net/http (and the
// differential fuzz test) rely on it.
func TestHostHeaderRemoved(t *testing.T) {
	seen := make(chan *http.Request, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r }))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: example.test\r\nX-A: a\r\n\r\n")
	rc.read("GET")
	r := wait(t, seen, "the handler")
	if r.Host != "example.test" {
		t.Errorf("Host %q", r.Host)
	}
	if _, ok := r.Header["Host"]; ok || r.Header.Get("X-A") != "a" {
		t.Errorf("header %q, want X-A and no Host", r.Header)
	}
}

// TestShutdownHijacked proves what Shutdown's documentation says:
// hijacked connections are not waited for. A handler that hijacked its
// connection (a WebSocket, say) may run as long as that connection lives.
func TestShutdownHijacked(t *testing.T) {
	hijacked := make(chan struct{})
	release := newGate()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		close(hijacked)
		<-release.ch
	}))
	t.Cleanup(release.open)
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	wait(t, hijacked, "the hijack")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown waited for a hijacked connection: %v", err)
	}
}

// TestCloseHijacked proves what Close's documentation says: hijacked
// connections are left alone.
func TestCloseHijacked(t *testing.T) {
	hijacked := make(chan struct{})
	closed := newGate()
	wrote := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		close(hijacked)
		<-closed.ch
		_, err = io.WriteString(nc, "still here\n")
		wrote <- err
	}))
	t.Cleanup(closed.open)
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	wait(t, hijacked, "the hijack")
	ts.Close()
	closed.open()
	if err := wait(t, wrote, "the handler's write"); err != nil {
		t.Errorf("writing to the hijacked connection after Close: %v", err)
	}
	if line, err := rc.br.ReadString('\n'); line != "still here\n" {
		t.Errorf("read %q, %v after Close", line, err)
	}
}

// TestExpectContinueFullDuplex proves that the "100 Continue" that a body
// read sends on one goroutine and the answer the handler writes on another
// do not race on the connection's buffered writer. net/http allows this
// (the body is read aside while the handler answers); the race detector
// catches the unsynchronized writes. The test orders the two goroutines
// through the client only: the handler answers once the client saw the
// 100, which is what can happen in any order at full speed.
func TestExpectContinueFullDuplex(t *testing.T) {
	sawContinue := newGate()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		read := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(r.Body) // sends the 100 Continue
			read <- b
		}()
		<-sawContinue.ch
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		w.Write(<-read)
	}))
	t.Cleanup(sawContinue.open)
	rc := dialRaw(t, ts.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if r := rc.read("POST"); r.status != 100 {
		t.Fatalf("status %d, want 100", r.status)
	}
	sawContinue.open()
	rc.send("hello")
	r := rc.read("POST")
	r.checkOK(t, "hello")
}

// TestTrailerNameInjection proves that trailer names, like header field
// names, cannot inject fields: invalid names are dropped, as net/http
// drops them.
func TestTrailerNameInjection(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Trailer", "X-Ok, X-Decl\r\nX-Injected")
		h[http.TrailerPrefix+"X-P\r\nX-Injected"] = []string{"1"}
		h[http.TrailerPrefix+"Bad Name"] = []string{"2"}
		w.(http.Flusher).Flush()
		h.Set("X-Ok", "ok")
		h["X-Decl\r\nX-Injected"] = []string{"3"}
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := rc.read("GET")
	if r.trailer.Get("X-Ok") != "ok" {
		t.Errorf("trailer X-Ok missing: %q", r.trailerLines)
	}
	for _, line := range r.trailerLines {
		k, _, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(k, " \t") || k == "X-Injected" {
			t.Errorf("trailer line %q", line)
		}
	}
}

// TestExpectEmpty proves that an empty Expect field, which names no
// expectation (RFC 9110 section 10.1.1 only allows a 417 for one other than
// 100-continue), is served as net/http serves it, not refused.
func TestExpectEmpty(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect:\r\nContent-Length: 2\r\n\r\nok")
	rc.read("POST").checkOK(t, "ok")
}

// TestUndeclaredRequestTrailers proves that the handler sees the trailer
// fields of a chunked request body even when the request did not declare
// them in a "Trailer" field, as with net/http (found by FuzzRequest).
func TestUndeclaredRequestTrailers(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		fmt.Fprintf(w, "%s %q %q", b, r.Trailer.Get("X-Declared"), r.Trailer.Get("X-Undeclared"))
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Undeclared: u\r\n\r\n")
	rc.read("POST").checkOK(t, `abc "" "u"`)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nTrailer: X-Declared\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Declared: d\r\nX-Undeclared: u\r\n\r\n")
	rc.read("POST").checkOK(t, `abc "d" "u"`)
}

// TestEmptyLineAfterPOST proves that an empty line a client sends after a
// POST's body, before its next request, is ignored as RFC 9112 section 2.2
// recommends and as net/http does, rather than answered 400 (found by
// FuzzRequest).
func TestEmptyLineAfterPOST(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.Method)
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n")
	rc.read("POST").checkOK(t, "POST")
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("GET").checkOK(t, "GET")
}

// TestBadRequestTarget proves that a request whose target does not parse
// is answered 400, like other malformed requests, rather than dropped
// without an answer: url.Error is a net.Error, but no network error
// (found by TestBadRequests).
func TestBadRequestTarget(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, target := range []string{"http://[::1/", "%zz", "http://a b/"} {
		rc := dialRaw(t, ts.addr)
		rc.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		r, err := readRawResponse(rc.br, "GET")
		if err != nil {
			t.Errorf("%s: no answer: %v", target, err)
			continue
		}
		checkProblem(t, rc, r, http.StatusBadRequest)
	}
}

// TestBodyClosedEarlyKeepsConnection proves that a handler closing a small
// request body it did not read to the end (a JSON decoder that stops at the
// value, then defer r.Body.Close()) does not cost the connection: the server
// discards the rest, as net/http's does, and serves the next request on it.
func TestBodyClosedEarlyKeepsConnection(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			var v map[string]int
			json.NewDecoder(r.Body).Decode(&v)
			r.Body.Close()
			if _, err := r.Body.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
				t.Errorf("read after Close: %v, want http.ErrBodyReadAfterClose", err)
			}
		}
		io.WriteString(w, "ok")
	}))
	rc := dialRaw(t, ts.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"8\r\n{\"a\": 1}\r\n" + "2000\r\n" + strings.Repeat(" ", 0x2000) + "\r\n" + "0\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.read("POST").checkOK(t, "ok")
	rc.read("GET").checkOK(t, "ok")
}
