package server_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/sluicehq/sluice/server"
)

// A listener behind a layer-4 balancer on loopback: the connections from
// the balancer start with a PROXY header, and the connection a server
// accepts reports the client it names.
func ExampleProxyListener() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	balancer := netip.MustParsePrefix("127.0.0.0/8")
	pl := server.ProxyListener(ln, server.ProxyOptions{From: balancer.Contains})
	defer pl.Close()

	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		fmt.Fprint(c, "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\nGET / HTTP/1.1\r\n")
		c.Read(make([]byte, 1)) // until the listener's side closes
	}()
	c, err := pl.Accept()
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println(c.RemoteAddr())
	// Output: 203.0.113.7:51234
}
