package rawio

import (
	"errors"
	"io"
	"net"
	"testing"
)

// A connection that is not an Exchanger gets Write then Read, and cannot
// be checked: with quiet, ErrNotQuiet and nothing written.
func TestExchangeFallback(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	if _, ok := c.(Exchanger); ok {
		t.Fatal("a pipe is an Exchanger")
	}
	if w, n, err := Exchange(c, []byte("GET"), make([]byte, 8), true); !errors.Is(err, ErrNotQuiet) || w != 0 || n != 0 {
		t.Fatalf("quiet exchange on a pipe: wrote %d, read %d, %v; want ErrNotQuiet", w, n, err)
	}
	go func() {
		b := make([]byte, 3)
		io.ReadFull(s, b)
		s.Write([]byte("ok"))
	}()
	buf := make([]byte, 8)
	w, n, err := Exchange(c, []byte("GET"), buf, false)
	if err != nil || w != 3 || string(buf[:n]) != "ok" {
		t.Fatalf("wrote %d, read %q, %v", w, buf[:n], err)
	}
}
