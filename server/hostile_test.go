package server

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests here hold this server to net/http's (the reference) where a
// client could turn a difference into an attack: framing, limits,
// timeouts, aborted answers. Each runs against both servers.

// limits are the settings both servers get in these tests.
type limits struct {
	readHeaderTimeout, idleTimeout time.Duration
	maxHeaderBytes                 int
}

// target is one server under test.
type target struct {
	name string
	addr string
	lean bool // this package's Server, not net/http's
}

// startNetHTTP serves h with net/http's http.Server, prepared with NetHTTP
// when prepare is set, and closes it on cleanup.
func startNetHTTP(t testing.TB, h http.Handler, l limits, prepare bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startNetHTTPOn(t, ln, h, l, prepare)
}

// startNetHTTPOn is startNetHTTP on the listener ln.
func startNetHTTPOn(t testing.TB, ln net.Listener, h http.Handler, l limits, prepare bool) string {
	t.Helper()
	hs := &http.Server{Handler: h, ReadHeaderTimeout: l.readHeaderTimeout, IdleTimeout: l.idleTimeout,
		MaxHeaderBytes: l.maxHeaderBytes, ErrorLog: log.New(io.Discard, "", 0)}
	if prepare {
		ln = NetHTTP(hs, ln)
	}
	done := make(chan struct{})
	go func() {
		hs.Serve(ln)
		close(done)
	}()
	t.Cleanup(func() {
		hs.Close()
		<-done
	})
	return ln.Addr().String()
}

// bothServers starts this server and net/http's (prepared with NetHTTP, as
// the gateway runs it) with the same handler and limits.
func bothServers(t testing.TB, h http.Handler, l limits) []target {
	t.Helper()
	ts := startServer(t, h, func(s *Server) {
		s.ReadHeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes = l.readHeaderTimeout, l.idleTimeout, l.maxHeaderBytes
	})
	return []target{
		{name: "sluice", addr: ts.addr, lean: true},
		{name: "net-http", addr: startNetHTTP(t, h, l, true)},
	}
}

// pathLog records the paths a handler served.
type pathLog struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathLog) handler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()
	io.WriteString(w, "ok")
}

func (p *pathLog) served(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.paths {
		if s == path {
			return true
		}
	}
	return false
}

// TestConflictingFraming proves that a request with both Content-Length
// and Transfer-Encoding cannot carry a second request on its connection:
// this server refuses it with 400 and closes; net/http's, prepared with
// NetHTTP, serves it (it cannot see the Content-Length) and closes. On
// neither is the request hidden in its body served.
func TestConflictingFraming(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct{ name, req string }{
		{"length then chunked", "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"chunked then length", "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n"},
		{"lower case", "POST /first HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n"},
		{"odd case, bare LF", "POST /first HTTP/1.1\nHost: x\nTRANSFER-ENCODING: chunked\ncOnTeNt-LeNgTh: 3\n\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen pathLog
			for _, srv := range bothServers(t, http.HandlerFunc(seen.handler), limits{}) {
				rc := dialRaw(t, srv.addr)
				rc.send(tt.req + smuggled)
				if srv.lean {
					checkProblem(t, rc, rc.read("POST"), http.StatusBadRequest)
					if seen.served("/first") {
						t.Errorf("%s: the handler ran for the refused request", srv.name)
					}
				} else {
					r := rc.read("POST")
					r.checkOK(t, "ok")
					if !hasToken(r.header, "Connection", "close") {
						t.Errorf("%s: no Connection: close on the answer: %q", srv.name, r.lines)
					}
					rc.expectClosed()
				}
				if seen.served("/smuggled") {
					t.Fatalf("%s: the request in the body was served", srv.name)
				}
			}
		})
	}
	// The header's fields, not its values or the body, count.
	var seen pathLog
	for _, srv := range bothServers(t, http.HandlerFunc(seen.handler), limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("POST /a HTTP/1.1\r\nHost: x\r\nX-Note: Content-Length: 3\r\nX-Folded: a\r\n Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"13\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" +
			"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
		if r := rc.read("POST"); r.status != 200 {
			t.Fatalf("%s: %d %q", srv.name, r.status, r.body)
		}
		if srv.lean {
			rc.read("POST").checkOK(t, "ok") // kept alive
		}
	}
}

// TestHTTP10TransferEncoding proves that an HTTP/1.0 request with
// Transfer-Encoding (which http.ReadRequest ignores, framing it by its
// Content-Length) is served and its connection closed, as RFC 9112 section
// 6.1 asks, even when it asked to be kept alive; and that one with a
// Content-Length as well is refused.
func TestHTTP10TransferEncoding(t *testing.T) {
	var seen pathLog
	ts := startServer(t, http.HandlerFunc(seen.handler))
	rc := dialRaw(t, ts.addr)
	rc.send("POST /first HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"GET /smuggled HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	r := rc.read("POST")
	r.checkOK(t, "ok")
	if hasToken(r.header, "Connection", "keep-alive") {
		t.Errorf("the answer offers to keep the connection: %q", r.lines)
	}
	rc.expectClosed()

	rc = dialRaw(t, ts.addr)
	rc.send("POST /first HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" +
		"GET /smuggled HTTP/1.0\r\n\r\n")
	checkProblem(t, rc, rc.read("POST"), http.StatusBadRequest)
	if seen.served("/smuggled") {
		t.Fatal("the request in the body was served")
	}
}

// TestHeaderLimitLikeNetHTTP proves that the header limit is net/http's to
// the byte: MaxHeaderBytes and 4096 bytes of slop, counted from a
// connection's first byte; over it, 431 (a problem body from both).
func TestHeaderLimitLikeNetHTTP(t *testing.T) {
	const max = 64 << 10
	limit := max + 4096
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "
	field := func(header int) string { // a request whose header has this length
		return head + strings.Repeat("a", header-len(head)-4) + "\r\n\r\n"
	}
	tests := []struct {
		name   string
		req    string
		status int
	}{
		{"at the limit", field(limit), 200},
		{"a byte over", field(limit + 1), 431},
		{"a 70,000-byte field", head + strings.Repeat("a", 70000) + "\r\n\r\n", 431},
		{"a long target", "GET /" + strings.Repeat("a", 70000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, srv := range bothServers(t, h, limits{maxHeaderBytes: max}) {
		for _, tt := range tests {
			rc := dialRaw(t, srv.addr)
			rc.send(tt.req)
			r := rc.read("GET")
			if tt.status == 200 {
				r.checkOK(t, "ok")
				continue
			}
			checkProblem(t, rc, r, tt.status)
		}
		// A later request on the connection: net/http counts from its
		// first 4 bytes read, so 4 KiB over the limit is certainly over.
		rc := dialRaw(t, srv.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
		rc.send(field(limit + 4097))
		checkProblem(t, rc, rc.read("GET"), 431)
	}
}

// TestHeaderTimeoutFromAccept proves that a connection on which no byte
// comes is closed ReadHeaderTimeout after it was accepted, as by net/http,
// even with a long IdleTimeout.
func TestHeaderTimeoutFromAccept(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, srv := range bothServers(t, h, limits{readHeaderTimeout: 100 * time.Millisecond, idleTimeout: time.Hour}) {
		rc := dialRaw(t, srv.addr) // reads fail after waitLimit
		rc.expectClosed()
	}
}

// TestHijackGetsWatchedByte proves that a byte the watch read while the
// handler ran reaches a handler that hijacks the connection, in the
// reader Hijack returns (as net/http puts it there), so that a handler
// that reads what the reader holds and then the connection gets every
// byte in order.
func TestHijackGetsWatchedByte(t *testing.T) {
	got := make(chan string, 1)
	started := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		if rw, ok := w.(*response); ok {
			waitFor(t, "the watch to read a byte", func() bool {
				rw.c.watch.mu.Lock()
				defer rw.c.watch.mu.Unlock()
				return rw.c.hasByte
			})
		}
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			got <- ""
			return
		}
		defer nc.Close()
		buf := make([]byte, brw.Reader.Buffered())
		io.ReadFull(brw.Reader, buf)
		nc.SetReadDeadline(time.Now().Add(waitLimit))
		rest := make([]byte, 2-len(buf))
		n, _ := io.ReadFull(nc, rest)
		got <- string(buf) + string(rest[:n])
	})
	ts := startServer(t, h, func(s *Server) { s.WatchAfter = -1 })
	for _, srv := range []target{{name: "sluice", addr: ts.addr}, {name: "net-http", addr: startNetHTTP(t, h, limits{}, true)}} {
		rc := dialRaw(t, srv.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		wait(t, started, "the handler")
		rc.send("X") // this server's handler hijacks once the watch read it
		rc.send("Y")
		if s := wait(t, got, "the hijacker"); s != "XY" {
			t.Errorf("%s: the hijacker read %q, want %q", srv.name, s, "XY")
		}
	}
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %v waiting for %s", waitLimit, what)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAbortedAnswer proves that an answer whose handler panics with
// http.ErrAbortHandler after it began cannot be taken for a whole one: the
// connection closes with no terminating chunk and short of a declared
// length, and an answer still held in the server's buffer is not sent with
// a length computed from what was held. net/http's server, unprepared, is
// the reference.
func TestAbortedAnswer(t *testing.T) {
	part := strings.Repeat("p", 100)
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
	}{
		{"held", func(w http.ResponseWriter) { io.WriteString(w, part) }},
		{"held, status set", func(w http.ResponseWriter) { w.WriteHeader(201); io.WriteString(w, part) }},
		{"flushed", func(w http.ResponseWriter) { io.WriteString(w, part); w.(http.Flusher).Flush() }},
		{"past the hold", func(w http.ResponseWriter) { io.WriteString(w, strings.Repeat(part, 100)) }},
		{"declared, held", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, part)
		}},
		{"declared, flushed", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}},
		{"trailers", func(w http.ResponseWriter) {
			w.Header().Set("Trailer", "X-T")
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(w)
				panic(http.ErrAbortHandler)
			})
			ts := startServer(t, h)
			for _, srv := range []target{{name: "sluice", addr: ts.addr}, {name: "net-http", addr: startNetHTTP(t, h, limits{}, false)}} {
				rc := dialRaw(t, srv.addr)
				rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(rc.br, nil)
				if err != nil {
					continue // nothing, or not an answer: cut
				}
				body, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Fatalf("%s: the aborted answer reads as whole: %d, %d bytes, Content-Length %d, chunked %v",
						srv.name, resp.StatusCode, len(body), resp.ContentLength, resp.TransferEncoding)
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
					t.Logf("%s: reading the body: %v", srv.name, err)
				}
			}
		})
	}
}

// TestParsedCloseHonored proves that the parsed request's Close field
// decides, not only its Connection field: a request http.ReadRequest marks
// Close is answered with "Connection: close" and ends its connection.
func TestParsedCloseHonored(t *testing.T) {
	client, srv := net.Pipe()
	defer client.Close()
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	c := newConn(s, srv, nil)
	c.br = bufio.NewReader(c)
	c.bw = bufio.NewWriter(c)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // as a future http.ReadRequest might set it, from framing it alone sees
	answer := make(chan *rawResponse, 1)
	go func() {
		r, err := readRawResponse(bufio.NewReader(client), "GET")
		if err != nil {
			t.Error(err)
		}
		answer <- r
	}()
	if c.serveOne(req, nil) {
		t.Error("the connection would serve another request")
	}
	r := wait(t, answer, "the answer")
	if r == nil || !hasToken(r.header, "Connection", "close") {
		t.Errorf("the answer does not say Connection: close")
	}
}

// TestRefusalsDoNotEcho proves that this server's answers to malformed
// requests do not send back what the client wrote at length: the detail of
// a malformed line is clipped, and a transfer coding is not named.
func TestRefusalsDoNotEcho(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nBad" + strings.Repeat("<", 8000) + ": v\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: <script>\r\n\r\n",
	} {
		rc := dialRaw(t, ts.addr)
		rc.send(req)
		r := rc.read("POST")
		if len(r.body) > 2048 || strings.Contains(string(r.body), "<") || strings.Contains(string(r.body), "script") {
			t.Errorf("%d answer echoes the request: %.200q", r.status, r.body)
		}
	}
}
