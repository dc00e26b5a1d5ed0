// Package servertest serves a handler with package server, the gateway's
// HTTP/1.x server, on loopback, for the tests of the packages whose
// handlers it serves (router, middleware), as net/http/httptest does with
// net/http's server: what those handlers do with package server's writer
// (an adopted header, a header made on demand) is seen only under it.
package servertest

import (
	"net"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/server"
)

// Start serves h with a server.Server on 127.0.0.1 and returns its address.
// The server is closed as the test ends, and the test fails if Serve then
// returns anything but server.ErrServerClosed.
func Start(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != server.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}
