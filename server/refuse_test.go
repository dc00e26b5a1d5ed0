package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// refusals records the statuses an OnRefuse hook is told of.
type refusals struct {
	mu sync.Mutex
	s  []int
}

func (r *refusals) add(status int) { r.mu.Lock(); r.s = append(r.s, status); r.mu.Unlock() }

func (r *refusals) got() []int { r.mu.Lock(); defer r.mu.Unlock(); return slices.Clone(r.s) }

// refusedAnswer writes raw to addr and reads the answer's status.
func refusedAnswer(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOnRefuseIsToldOfEveryRefusal: each request a server answers itself,
// before any handler, is told to OnRefuse with the status answered, on
// this package's Server and on net/http's through NetHTTPWith, in
// cleartext and (a plain request to the TLS port) through NetHTTPTLSWith;
// a request a handler answers is not. The hook is called before the
// answer is written, so it has been told once the client reads it.
func TestOnRefuseIsToldOfEveryRefusal(t *testing.T) {
	heads := map[string]int{
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n": http.StatusBadRequest,
		"GET / HTTP/9.1\r\nHost: x\r\n\r\n":                  http.StatusHTTPVersionNotSupported,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n":                  http.StatusNoContent, // the handler's
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	serve := map[string]func(t *testing.T, ln net.Listener, r *refusals){
		"sluice": func(t *testing.T, ln net.Listener, r *refusals) {
			s := &Server{Handler: handler, OnRefuse: r.add}
			go s.Serve(ln)
			t.Cleanup(func() { s.Close() })
		},
		"net/http": func(t *testing.T, ln net.Listener, r *refusals) {
			hs := &http.Server{Handler: handler}
			go hs.Serve(NetHTTPWith(hs, ln, NetHTTPOptions{OnRefuse: r.add}))
			t.Cleanup(func() { hs.Close() })
		},
	}
	for name, start := range serve {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var r refusals
			start(t, ln, &r)
			var want []int
			for raw, status := range heads {
				if got := refusedAnswer(t, ln.Addr().String(), raw); got != status {
					t.Fatalf("%q: %d, want %d", raw, got, status)
				}
				if status != http.StatusNoContent {
					want = append(want, status)
				}
				if got := r.got(); !slices.Equal(got, want) {
					t.Fatalf("after %q, told of %v, want %v", raw, got, want)
				}
			}
		})
	}
	t.Run("net/http TLS, a plain request", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var r refusals
		leaf := certtest.NewCA(t).Server(t, "127.0.0.1")
		hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(NetHTTPTLSWith(hs, ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}, NetHTTPOptions{OnRefuse: r.add}))
		t.Cleanup(func() { hs.Close() })
		if got := refusedAnswer(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); got != http.StatusBadRequest {
			t.Fatalf("a plain request to the TLS port: %d, want 400", got)
		}
		if got := r.got(); !slices.Equal(got, []int{http.StatusBadRequest}) {
			t.Fatalf("told of %v, want [400]", got)
		}
	})
}
