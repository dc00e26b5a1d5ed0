package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// TestNetHTTPTLSBoundsHandshakesAsNetHTTPDoes: a client that connects and
// sends nothing, or half a ClientHello, is closed by the server when the
// shortest of ReadHeaderTimeout, ReadTimeout and WriteTimeout has passed,
// as net/http's own ServeTLS bounds a handshake (Server.tlsHandshakeTimeout).
// A server with ReadTimeout only had no bound at all on the handshake: a
// client that never said hello held its connection, its descriptor and a
// goroutine for ever (handshake slowloris).
func TestNetHTTPTLSBoundsHandshakesAsNetHTTPDoes(t *testing.T) {
	hello := certtest.ClientHello(t)
	ca := certtest.NewCA(t)
	leaf := ca.Server(t, "127.0.0.1")
	for _, c := range []struct {
		name string
		hs   *http.Server
	}{
		{"ReadTimeout only", &http.Server{ReadTimeout: 100 * time.Millisecond}},
		{"WriteTimeout only", &http.Server{WriteTimeout: 100 * time.Millisecond}},
		{"ReadTimeout shorter than ReadHeaderTimeout", &http.Server{ReadHeaderTimeout: time.Hour, ReadTimeout: 100 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c.hs.Handler = http.NotFoundHandler()
			tl := NetHTTPTLS(c.hs, ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
			go c.hs.Serve(tl)
			defer c.hs.Close()
			var conns []net.Conn
			for _, sent := range [][]byte{nil, hello[:len(hello)/2]} {
				conn, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.Write(sent); err != nil {
					t.Fatal(err)
				}
				// A hang guard, far above the timeout: the server, not
				// this deadline, must end the read.
				_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				conns = append(conns, conn)
			}
			for i, conn := range conns {
				_, err := io.Copy(io.Discard, conn)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("client %d (%s): the handshake was still open 30 s later: the server never closed it", i, map[int]string{0: "sent nothing", 1: "sent half a ClientHello"}[i])
				}
			}
		})
	}
}
