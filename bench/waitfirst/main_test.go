//go:build linux

package main

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestModesAnswer runs each mode against a client that sends one request,
// three pipelined in one write, one in two pieces, then ends its side: each
// request gets its answer, the pipelined ones included (the loop must not
// lose bytes that came while it was not waiting), and the server ends the
// connection after the client's end.
func TestModesAnswer(t *testing.T) {
	const req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for name, serve := range modes {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go accept(ln, serve)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			expect := func(n int) {
				t.Helper()
				want := bytes.Repeat(answer, n)
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("read %q, %v; want %d answers", got, err, n)
				}
			}
			write := func(s string) {
				t.Helper()
				if _, err := io.WriteString(c, s); err != nil {
					t.Fatal(err)
				}
			}
			write(req)
			expect(1)
			write(req + req + req)
			expect(3)
			// Split inside the empty line that ends the header: an answer
			// needs both pieces, kept together however they were received.
			write(req[:len(req)-1])
			time.Sleep(10 * time.Millisecond) // the first piece is most likely read alone (the test holds either way)
			write(req[len(req)-1:])
			expect(1)
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("after the client's end: %d bytes, %v; want the server's end (EOF)", n, err)
			}
		})
	}
}
