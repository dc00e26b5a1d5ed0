package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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
			heads.budget.max = 2 * perHead
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
			waitHeld := func(want int64) {
				t.Helper()
				deadline := time.Now().Add(waitLimit)
				for heads.budget.held.Load() != want {
					if time.Now().After(deadline) {
						t.Fatalf("the large heads hold %d bytes, want %d", heads.budget.held.Load(), want)
					}
					time.Sleep(time.Millisecond) // polling the server's state
				}
			}
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

// TestNetHTTPPriorKnowledgeH2IsNotAHead: an HTTP/2 connection with prior
// knowledge (h2c) reads frames, not a head; however many bytes a
// request's header block takes before its stream opens, the connection
// takes no room in the budget, and is served with the budget at nothing.
func TestNetHTTPPriorKnowledgeH2IsNotAHead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		ReadHeaderTimeout: time.Minute, Protocols: new(http.Protocols)}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	pl := NetHTTP(hs, ln).(problemListener)
	pl.heads.budget.max = 0
	go hs.Serve(pl)
	t.Cleanup(func() { hs.Close() })

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	for i := range 3 { // header blocks of about 22 KiB, Huffman-coded: a HEADERS frame and a CONTINUATION
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		req.Header.Set("X-Filler", strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 900+i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "HTTP/2.0" {
			t.Fatalf("request %d: %d %q, want 200 HTTP/2.0", i, resp.StatusCode, body)
		}
	}
	if held := pl.heads.budget.held.Load(); held != 0 {
		t.Errorf("the h2c connection holds %d bytes of the heads' budget, want 0", held)
	}

	// The same budget refuses an HTTP/1.1 head as large.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	hc := &headClient{t: t, c: c, br: bufio.NewReader(c)}
	hc.send("GET / HTTP/1.1\r\nHost: x\r\nX-Large: " + strings.Repeat("a", 6000) + "\r\n\r\n")
	if s := hc.status(); s != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("an HTTP/1.1 large head with no budget: %d, want 431", s)
	}
}
