package testbin

import (
	"net"
	"testing"
)

// FreePorts returns n distinct TCP ports of 127.0.0.1 that nothing listened
// on a moment ago, for a program a test starts. Every listener stays open
// until all n ports are known, so the kernel cannot hand one port out twice
// (a Consul agent given one port for HTTP and Serf exits at start).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	held := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testbin: free port: %v", err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}
