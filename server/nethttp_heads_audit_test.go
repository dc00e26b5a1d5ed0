package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluicehq/sluice/internal/membudget"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// headClient writes request bytes on a connection to a NetHTTP or
// NetHTTPTLS listener and reads the answers.
type headClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (h *headClient) send(s string) {
	h.t.Helper()
	if _, err := io.WriteString(h.c, s); err != nil {
		h.t.Fatalf("writing the request: %v", err)
	}
}

// status reads one answer and returns its status, checking that an error
// is a problem body.
func (h *headClient) status() int {
	h.t.Helper()
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		h.t.Fatalf("reading the answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		h.t.Errorf("a %d answer of type %q, want a problem body", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode
}

// waitBudget waits until the large heads hold want bytes of b.
func waitBudget(t *testing.T, b *membudget.Budget, want int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for b.Held() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the large heads hold %d bytes, want %d", b.Held(), want)
		}
		time.Sleep(time.Millisecond) // polling the server's state
	}
}

// TestNetHTTPSlowLargeHeadsAreBounded: on net/http's server, in cleartext
// and over TLS, clients that each send a large request head (past the
// reader's 4 KiB) and never end it hold no more than the listener's budget
// of large heads; past it, a large head is answered 431 while small ones
// are served, and the room comes back as the heads end or their
// connections close. Before, each such client held its head's memory until
// ReadHeaderTimeout: about 160 KiB a connection for a 60 KiB head over
// TLS, however many they were.
func TestNetHTTPSlowLargeHeadsAreBounded(t *testing.T) {
	const maxHeader = 8 << 10
	perHead := int64(maxHeader + headerSlop)
	for _, overTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "cleartext", true: "TLS"}[overTLS], func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
				ReadHeaderTimeout: time.Minute, MaxHeaderBytes: maxHeader}
			var heads *netHTTPHeads
			var served net.Listener
			var ca *certtest.CA
			if overTLS {
				ca = certtest.NewCA(t)
				leaf := ca.Server(t, "127.0.0.1")
				tl := NetHTTPTLS(hs, ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
				heads, served = tl.(*tlsListener).heads, tl
			} else {
				pl := NetHTTP(hs, ln).(problemListener)
				heads, served = pl.heads, pl
			}
			if heads.each != perHead {
				t.Fatalf("a head takes %d bytes of the budget, want MaxHeaderBytes and the slack, %d", heads.each, perHead)
			}
			heads.budget.SetMax(2 * perHead)
			go hs.Serve(served)
			t.Cleanup(func() { hs.Close() })

			dial := func() *headClient {
				t.Helper()
				var c net.Conn
				var err error
				if overTLS {
					c, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"http/1.1"}})
				} else {
					c, err = net.Dial("tcp", ln.Addr().String())
				}
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(waitLimit))
				t.Cleanup(func() { c.Close() })
				return &headClient{t: t, c: c, br: bufio.NewReader(c)}
			}
			waitHeld := func(want int64) { t.Helper(); waitBudget(t, heads.budget, want) }
			large := "GET / HTTP/1.1\r\nHost: x\r\nX-Large: " + strings.Repeat("a", 6000)

			a, b := dial(), dial()
			a.send(large)
			b.send(large)
			waitHeld(2 * perHead)

			c := dial()
			c.send(large + "\r\n\r\n")
			if s := c.status(); s != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("a large head past the budget: %d, want 431", s)
			}
			small := dial()
			for range 3 { // a kept-alive connection's heads, each small
				small.send("GET / HTTP/1.1\r\nHost: x\r\nX-Small: " + strings.Repeat("b", 3000) + "\r\n\r\n")
				if s := small.status(); s != http.StatusOK {
					t.Fatalf("a small head with the budget spent: %d, want 200", s)
				}
			}

			a.send("\r\n\r\n")
			if s := a.status(); s != http.StatusOK {
				t.Fatalf("a large head within the budget: %d, want 200", s)
			}
			waitHeld(perHead)
			a.send(large + "\r\n\r\n") // the same connection's next large head
			if s := a.status(); s != http.StatusOK {
				t.Fatalf("a second large head on a connection once room came back: %d, want 200", s)
			}
			waitHeld(perHead)
			b.c.Close()
			waitHeld(0)
		})
	}
}

// rawH2 is an HTTP/2 client with prior knowledge that writes frames
// itself.
type rawH2 struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	buf bytes.Buffer
	enc *hpack.Encoder
}

func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return rawH2On(t, c)
}

// rawH2On is a rawH2 on the connection c, which it closes with the test.
func rawH2On(t *testing.T, c net.Conn) *rawH2 {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	h := &rawH2{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.buf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return h
}

// block encodes a GET of / with the field x-pad of pad bytes (literal,
// not Huffman-coded: a random-looking value), as a header block.
func (h *rawH2) block(pad int) []byte {
	h.buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "x"}} {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if pad > 0 {
		h.enc.WriteField(hpack.HeaderField{Name: "x-pad", Value: strings.Repeat("~", pad), Sensitive: true})
	}
	return bytes.Clone(h.buf.Bytes())
}

// status reads frames until the answer's header on stream id, and returns
// its status; or the error that ended the connection.
func (h *rawH2) status(id uint32) (string, error) {
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return "", err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				return f.PseudoValue("status"), nil
			}
		case *http2.GoAwayFrame:
			return "", fmt.Errorf("GOAWAY %v", f.ErrCode)
		}
	}
}

// startH2C serves a handler answering the request's protocol with net/http's
// server prepared by NetHTTP, HTTP/1 and h2c, with the header timeout
// given, and returns its address and the listener's budget.
func startH2C(t *testing.T, headerTimeout time.Duration) (string, *netHTTPHeads) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		ReadHeaderTimeout: headerTimeout, MaxHeaderBytes: 8 << 10, Protocols: new(http.Protocols)}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	pl := NetHTTP(hs, ln).(problemListener)
	go hs.Serve(pl)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), pl.heads
}

// TestNetHTTPH2HeaderBlocksShareTheBudget: on HTTP/2 (h2c here; over TLS
// the connection is the same), a request's header block larger than 4 KiB
// takes its room from the listener's budget of large heads while it is
// read, as an HTTP/1 head does: a block sent slowly holds it, a large
// block that finds no room closes its connection, small blocks are
// served, and the room comes back when the block ends or its client
// leaves. An HTTP/1 head on the same listener shares the budget.
func TestNetHTTPH2HeaderBlocksShareTheBudget(t *testing.T) {
	addr, heads := startH2C(t, time.Minute)
	heads.budget.SetMax(heads.each)
	waitHeld := func(want int64) { t.Helper(); waitBudget(t, heads.budget, want) }

	slow := dialRawH2(t, addr)
	block := slow.block(6000)
	if err := slow.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:5000], EndStream: true}); err != nil {
		t.Fatal(err)
	}
	waitHeld(heads.each)

	large := dialRawH2(t, addr)
	if err := large.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: large.block(6000), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := large.status(1); err == nil {
		t.Errorf("a large header block with the budget full: answered %s, want the connection closed", st)
	}
	small := dialRawH2(t, addr)
	for i := range 3 {
		id := uint32(2*i + 1)
		if err := small.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: small.block(3000), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if st, err := small.status(id); err != nil || st != "200" {
			t.Fatalf("a small header block with the budget full: %q, %v; want 200", st, err)
		}
	}
	h1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer h1.Close()
	h1.SetDeadline(time.Now().Add(waitLimit))
	hc := &headClient{t: t, c: h1, br: bufio.NewReader(h1)}
	hc.send("GET / HTTP/1.1\r\nHost: x\r\nX-Large: " + strings.Repeat("a", 6000) + "\r\n\r\n")
	if s := hc.status(); s != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("an HTTP/1.1 large head with the budget held by an HTTP/2 block: %d, want 431", s)
	}

	if err := slow.fr.WriteContinuation(1, true, block[5000:]); err != nil {
		t.Fatal(err)
	}
	if st, err := slow.status(1); err != nil || st != "200" {
		t.Fatalf("the slow block, ended: %q, %v; want 200", st, err)
	}
	waitHeld(0)
	if err := slow.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: slow.block(6000), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := slow.status(3); err != nil || st != "200" {
		t.Fatalf("a large block once room came back: %q, %v; want 200", st, err)
	}
	waitHeld(0)

	// A client that leaves in the middle of a block gives its room back.
	left := dialRawH2(t, addr)
	if err := left.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: left.block(6000)[:5000], EndStream: true}); err != nil {
		t.Fatal(err)
	}
	waitHeld(heads.each)
	left.c.Close()
	waitHeld(0)
}

// TestNetHTTPH2SlowHeaderBlockTimesOut: an HTTP/2 header block must end
// within the header timeout of its first frame, as an HTTP/1 head must, or
// the connection is closed; a connection idle between requests is not.
// Before, net/http's HTTP/2 server waited for a block's end until the
// connection's idle timeout.
func TestNetHTTPH2SlowHeaderBlockTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, overTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "TLS"}[overTLS], func(t *testing.T) {
			var h *rawH2
			if overTLS {
				ca := certtest.NewCA(t)
				leaf := ca.Server(t, "127.0.0.1")
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				hs := &http.Server{ReadHeaderTimeout: timeout, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.TLS == nil || r.ProtoMajor != 2 {
						http.Error(w, "not HTTP/2 over TLS", http.StatusInternalServerError)
					}
				})}
				go hs.Serve(NetHTTPTLS(hs, ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}))
				t.Cleanup(func() { hs.Close() })
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"h2"}})
				if err != nil {
					t.Fatal(err)
				}
				h = rawH2On(t, c)
			} else {
				addr, _ := startH2C(t, timeout)
				h = dialRawH2(t, addr)
			}
			slowHeaderBlock(t, h, timeout)
		})
	}
}

// slowHeaderBlock checks on h, of a server whose header timeout is
// timeout, that requests are served across an idle spell longer than the
// timeout, and that a header block that never ends closes the connection,
// no sooner than the timeout.
func slowHeaderBlock(t *testing.T, h *rawH2, timeout time.Duration) {
	t.Helper()
	ask := func(id uint32) {
		t.Helper()
		if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.block(100), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if st, err := h.status(id); err != nil || st != "200" {
			t.Fatalf("stream %d: %q, %v; want 200", id, st, err)
		}
	}
	ask(1)
	time.Sleep(3 * timeout) // idle, between requests, past the header timeout
	ask(3)
	block := h.block(100)
	start := time.Now()
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block[:10], EndStream: true}); err != nil {
		t.Fatal(err)
	}
	st, err := h.status(5)
	if err == nil {
		t.Fatalf("a header block never ended: answered %s", st)
	}
	if isTimeoutErr(err) {
		t.Fatalf("a header block never ended: the connection is still open after %v", waitLimit)
	}
	if waited := time.Since(start); waited < timeout {
		t.Errorf("the connection closed %v after the block began, before the header timeout (%v)", waited, timeout)
	}
	t.Logf("a header block never ended: %v, after %v", err, time.Since(start).Round(time.Millisecond))
}

// TestTLSH2KeepsNetHTTPsRefusals: the HTTP/2 connections NetHTTPTLS
// serves as with prior knowledge are those net/http would serve: TLS 1.3,
// or 1.2 with an AEAD suite with forward secrecy; the others go to net/http
// as they are, which refuses them (INADEQUATE_SECURITY), as before.
func TestTLSH2KeepsNetHTTPsRefusals(t *testing.T) {
	for _, c := range []struct {
		version, suite uint16
		want           bool
	}{
		{tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, true},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false},
		{tls.VersionTLS11, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false},
	} {
		if got := tlsH2(tls.ConnectionState{Version: c.version, CipherSuite: c.suite}); got != c.want {
			t.Errorf("%s with %s: served as with prior knowledge %v, want %v",
				tls.VersionName(c.version), tls.CipherSuiteName(c.suite), got, c.want)
		}
	}
}
