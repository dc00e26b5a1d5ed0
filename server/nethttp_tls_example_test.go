package server_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/server"
)

// Serving HTTPS (HTTP/2 and HTTP/1.1) with net/http's server, whose own
// error answers become problem bodies.
func ExampleNetHTTPTLS() {
	cert, err := tls.LoadX509KeyPair("site.crt", "site.key")
	if err != nil {
		return // no certificate here: the example only shows the calls
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8443")
	if err != nil {
		return
	}
	hs := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second}
	tl := server.NetHTTPTLS(hs, ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	_ = hs.Serve(tl) // Serve, not ServeTLS: the listener does TLS
}
