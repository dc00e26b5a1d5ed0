package upstream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// TestUpgradedConnectionHalfCloses: the body of a 101 answer, carried by
// the default transport (h1, which hands upgrades to its default Fallback),
// half-closes the node's connection. It failed while h1's slotConn, the
// Fallback's connection, hid its TCP connection's CloseWrite: net/http's
// 101 body then answered ErrNotSupported, the gateway's tunnel closed the
// connection instead, and a node that answers after the client's EOF (a
// client that half-closed its WebSocket or TCP tunnel) lost its answer.
func TestUpgradedConnectionHalfCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answered := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		got, _ := io.ReadAll(br) // until the client's EOF
		_, _ = io.WriteString(c, "answer to "+string(got))
		answered <- string(got)
	}()
	reg, err := registry.NewStatic(&registry.Node{Service: "svc", Address: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	c := New(reg)
	req, _ := http.NewRequest(http.MethodGet, "http://svc/tunnel", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw := resp.Body.(io.ReadWriteCloser)
	if _, err := io.WriteString(rw, "ping"); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v: the tunnel can only close the node's connection", err)
	}
	select {
	case got := <-answered:
		if got != "ping" {
			t.Fatalf("the node read %q", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the node never saw the client's EOF")
	}
	b, err := io.ReadAll(rw)
	if string(b) != "answer to ping" || err != nil {
		t.Fatalf("read %q, %v after the half-close: want the node's answer", b, err)
	}
}
