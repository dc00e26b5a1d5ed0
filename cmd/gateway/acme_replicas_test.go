package main

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/testbin"
)

// Replicas behind a layer-4 load balancer may share one acme storage (a
// volume they all mount), as docs/configuration.md says: certmagic locks
// it. Two things must then hold, or every replica's start would cost an
// order (a CA limits duplicate certificates: Let's Encrypt to 5 a week)
// and validations would fail half the time. One replica orders and the
// others wait on the lock and load its certificate; and the CA's
// validation, which the balancer sends to any replica, is answered by one
// that did not start the order, from the challenge the other wrote to the
// storage. Here the balancer sends every connection to the second
// replica, which starts only once the first is ordering.
func TestACMEReplicasSharingStorageObtainOneCertificate(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			e := newACMEEnv(t)
			ports := testbin.FreePorts(t, 4) // the replicas' TLS and cleartext listeners
			tlsLB := balancer(t, e.tlsPort, fmt.Sprintf("127.0.0.1:%d", ports[2]))
			httpLB := balancer(t, e.httpPort, fmt.Sprintf("127.0.0.1:%d", ports[3]))
			extra := "        challenge: " + challenge + "\n        profile: default\n"

			first, _ := e.startOn(t, "shared", extra, 0, ports[0], ports[1])
			waitLog(t, first, "acme: obtaining a certificate", map[string]any{"name": acmeName})
			second, _ := e.startOn(t, "shared", extra, 0, ports[2], ports[3])
			waitLog(t, first, "acme: certificate obtained", map[string]any{"name": acmeName, "renewal": false})
			for _, logs := range []*logBuffer{first, second} {
				waitLog(t, logs, "acme: certificate loaded", nil)
			}
			if got, _ := second.find("acme: certificate obtained"); len(got) != 0 {
				t.Errorf("the second replica obtained a certificate of its own: %v", got)
			}
			if n := e.pebble.Issued(); n != 1 {
				t.Errorf("pebble issued %d certificates to two replicas sharing storage, want 1", n)
			}
			if n := tlsLB.Load() + httpLB.Load(); n == 0 {
				t.Fatal("no validation went through the balancer to the second replica")
			}
			// Both serve the one certificate: the balancer's port reaches
			// the second replica; the first is asked on its own port.
			served := func(port int) string {
				t.Helper()
				e.tlsPort = port // what e.url and the client dial
				serial, err := e.served(e.client(t, true))
				if err != nil {
					t.Fatalf("the replica on port %d: %v", port, err)
				}
				return serial
			}
			if a, b := served(ports[0]), served(ports[2]); a != b {
				t.Errorf("the replicas serve serials %s and %s, want the one certificate", a, b)
			}
		})
	}
}

// balancer listens on 127.0.0.1:port, where Pebble's validation
// authority dials, and passes every connection to to, as a layer-4 load
// balancer in front of replicas would; it returns the count of
// connections passed. It stops when the test ends.
func balancer(t *testing.T, port int, to string) *atomic.Int64 {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var passed atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			passed.Add(1)
			go relay(c, to)
		}
	}()
	return &passed
}

// relay copies between c and a new connection to addr, each way until
// its end, passing a half-close on.
func relay(c net.Conn, addr string) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	done := make(chan struct{})
	go func() {
		copyHalf(up, c)
		close(done)
	}()
	copyHalf(c, up)
	<-done
}
