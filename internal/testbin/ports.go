package testbin

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePorts returns n distinct TCP ports of 127.0.0.1 that nothing listened
// on a moment ago, for a program a test starts. Every listener stays open
// until all n ports are known, so that no port is handed out twice (a
// Consul agent given one port for HTTP and Serf exits at start).
//
// The ports are picked at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range) where it can be read: a port in that range
// can be taken, between FreePorts and the program's bind, as the local port
// of any outgoing connection on the machine, which parallel tests make by
// the thousand (a Consul server of e2e's cluster once failed to start so:
// "bind: address already in use"). Below the range, only another explicit
// bind can take it. Elsewhere they are the kernel's picks, as before.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	held := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	lo, hi := belowEphemeral()
	for i := range ports {
		l, err := listenFree(lo, hi)
		if err != nil {
			t.Fatalf("testbin: free port: %v", err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// listenFree listens on a random free port of 127.0.0.1 in [lo, hi), or on
// the kernel's pick when the range is empty or full.
func listenFree(lo, hi int) (net.Listener, error) {
	for range 200 {
		if hi-lo < 1000 {
			break
		}
		p := lo + rand.IntN(hi-lo)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// belowEphemeral returns the ports from 10000 to the start of the kernel's
// ephemeral range, or an empty range where that cannot be read.
func belowEphemeral() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, 0
	}
	return 10000, start
}
