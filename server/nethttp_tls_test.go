package server

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// startNetHTTPTLS serves h with net/http's server prepared by NetHTTPTLS,
// with a certificate for 127.0.0.1, and returns the address, the server
// and the roots that trust it.
func startNetHTTPTLS(t *testing.T, h http.Handler) (string, *http.Server, *certtest.CA) {
	t.Helper()
	ca := certtest.NewCA(t)
	leaf := ca.Server(t, "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 10}
	tl := NetHTTPTLS(hs, ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12})
	go hs.Serve(tl)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), hs, ca
}

// TestNetHTTPTLSKeepsRequestTLSAndHTTP2: over the wrapped HTTP/1.1
// connections and the HTTP/2 ones alike, the handler sees Request.TLS, and
// HTTP/2 is negotiated for the clients that offer it.
func TestNetHTTPTLSKeepsRequestTLSAndHTTP2(t *testing.T) {
	addr, _, ca := startNetHTTPTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			http.Error(w, "no TLS state", 500)
			return
		}
		io.WriteString(w, r.Proto)
	}))
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("HTTP/2 offered %v: %d %q, want 200 %q", h2, resp.StatusCode, body, want)
		}
	}
}

// TestNetHTTPTLSProblems: net/http's own errors over TLS are problem
// bodies of the same status.
func TestNetHTTPTLSProblems(t *testing.T) {
	addr, _, ca := startNetHTTPTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, c := range []struct {
		req    string
		status int
	}{
		{"GARBAGE\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
	} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool})
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, c.req)
		got, _ := io.ReadAll(conn)
		conn.Close()
		if !strings.HasPrefix(string(got), "HTTP/1.1 "+strconv.Itoa(c.status)+" ") || !strings.Contains(string(got), "application/problem+json") {
			t.Errorf("%q: answered %q, want a %d problem", c.req[:min(len(c.req), 20)], got, c.status)
		}
	}
}

// TestNetHTTPTLSShutdownClosesStalledHandshakes: a client that connects
// and never says hello does not hold Shutdown, and its connection is
// closed.
func TestNetHTTPTLSShutdownClosesStalledHandshakes(t *testing.T) {
	addr, hs, _ := startNetHTTPTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // less than the handshake timeout
	// A good handshake first, so that the stalled one below is surely
	// accepted by the listener before Shutdown (accepts are in order).
	ok, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	ok.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeoutErr(err) {
		t.Errorf("the stalled connection is still open after Shutdown (read: %v)", err)
	}
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
