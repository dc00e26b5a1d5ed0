// Package refused gives tests an address on loopback where every TCP
// connection is refused, and stays refused for the test's life.
//
// The usual way, listening on port 0 and closing the listener, frees the
// port: any process's next listener on port 0 (another test's backend,
// under `go test ./...`) may get it, and the "dead" node then answers. A
// socket bound to the port and never listening holds it, and the kernel
// refuses connections to it (RST) as to a closed port.
package refused

import "testing"

// Addr returns a host:port on 127.0.0.1 that refuses every connection
// until the test ends.
func Addr(t testing.TB) string {
	t.Helper()
	addr, closer, err := hold()
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	t.Cleanup(closer)
	return addr
}
