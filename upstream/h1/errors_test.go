package h1

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
)

func TestDialRefusedNothingWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr := &Transport{} // the default dialer
	_, err = tr.RoundTrip(mustReq(t, "POST", "http://"+addr+"/", "body"))
	var oe *net.OpError
	if !errors.Is(err, ErrNothingWritten) || !errors.As(err, &oe) {
		t.Fatalf("err %v, want ErrNothingWritten and a *net.OpError", err)
	}
}

func TestResetAfterWriteNotNothingWritten(t *testing.T) {
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		readRequest(br)
		nc.(*net.TCPConn).SetLinger(0) // reset, not FIN
	})
	tr, _ := newTransport(t)
	_, err := tr.RoundTrip(mustReq(t, "GET", url, ""))
	if err == nil || errors.Is(err, ErrNothingWritten) {
		t.Fatalf("err %v, want a failure that is not ErrNothingWritten", err)
	}
}

func TestWriteFailsNothingWritten(t *testing.T) {
	tr := &Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c1, c2 := net.Pipe()
		c2.Close() // writes to c1 fail at once
		return c1, nil
	}}
	_, err := tr.RoundTrip(mustReq(t, "GET", "http://example.test/", ""))
	if !errors.Is(err, ErrNothingWritten) {
		t.Fatalf("err %v, want ErrNothingWritten", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	tr, d := newTransport(t)
	for _, mod := range []func(*http.Request){
		func(r *http.Request) { r.Header["Bad Name"] = []string{"x"} },
		func(r *http.Request) { r.Header.Set("X", "a\x00b") },
		func(r *http.Request) { r.Method = "GE T" },
		func(r *http.Request) { r.URL.Host = "" },
		func(r *http.Request) { r.Host = "bad host\r\n" },
	} {
		req := mustReq(t, "GET", "http://127.0.0.1:1/", "")
		mod(req)
		if _, err := tr.RoundTrip(req); err == nil || !errors.Is(err, ErrNothingWritten) {
			t.Fatalf("err %v, want a rejection wrapping ErrNothingWritten", err)
		}
	}
	if n := d.dials.Load(); n > 1 { // the bad Host is found when writing
		t.Fatalf("%d dials", n)
	}
}
