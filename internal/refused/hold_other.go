//go:build !linux

package refused

import "net"

// hold frees a port it listened on: without a socket that binds and never
// listens, the port may be taken again (see the package documentation).
func hold() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, func() {}, nil
}
