package main

import (
	"net"
	"strings"
	"sync"
	"testing"
)

// rawNode is a node that hands each connection it takes to serve, in a
// goroutine of its own; serve need not close it. Its listener and every
// connection are closed, and serve's goroutines awaited, at the test's
// end.
func rawNode(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// gatewayOver starts a gateway with the defaults, on the lean server, whose
// one route (route, a YAML flow mapping less its service) leads to service
// svc of the nodes at addrs, and returns its address.
func gatewayOver(t *testing.T, route string, addrs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("listeners: [{address: \"127.0.0.1:0\"}]\nregistry:\n  static:\n")
	for _, a := range addrs {
		b.WriteString("    - {service: svc, address: \"" + a + "\"}\n")
	}
	b.WriteString("routes:\n  - {" + route + ", service: svc}\n")
	cfg, _ := loadFile(t, b.String())
	logger, _ := newLogger()
	_, addr := startGateway(t, cfg, logger, listenerKinds[0])
	return addr
}
