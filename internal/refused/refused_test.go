package refused

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// The address refuses connections, and keeps its port from the next
// listener on port 0 for as long as the test runs.
func TestAddrRefuses(t *testing.T) {
	addr := Addr(t)
	for range 3 {
		if err := check(addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dialling %s: %v, want connection refused", addr, err)
		}
	}
}

// check reports whether a connection to addr is refused.
func check(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err
}
