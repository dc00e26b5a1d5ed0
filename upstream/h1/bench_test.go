package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares h1 with http.Transport (configured as the
// gateway's: no compression, keep-alive pools) on GETs of a small body from
// one local net/http server, with a cancellable context as the gateway's
// requests have.
func BenchmarkRoundTrip(b *testing.B) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, world")
	}))
	defer s.Close()
	benchTransports(b, s.URL)
}

// BenchmarkRoundTripCanned is BenchmarkRoundTrip against a server that
// answers every GET with canned bytes and allocates nothing per request, so
// that allocs/op and most of ns/op are the client's.
func BenchmarkRoundTripCanned(b *testing.B) {
	url, _ := rawServer(b, cannedGETs("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world"))
	benchTransports(b, url)
}

// cannedGETs is a rawServer handler that answers every GET with answer,
// allocating nothing per request.
func cannedGETs(answer string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		b := []byte(answer)
		for {
			for { // a GET ends at its empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			if _, err := nc.Write(b); err != nil {
				return
			}
		}
	}
}

// BenchmarkPostSmall is h1 alone sending a POST with a 100-byte body: in
// memory (GetBody set, written inline) and streamed (no GetBody, as a
// proxied client's body: written from a goroutine of its own).
func BenchmarkPostSmall(b *testing.B) {
	url, _ := rawServer(b, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := strings.Repeat("x", 100)
	for _, streamed := range []bool{false, true} {
		name := "in-memory"
		if streamed {
			name = "streamed"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
				if streamed {
					req.GetBody = nil
				}
				roundTrip(b, tr, req)
			}
		})
	}
}

// BenchmarkReuseCheck is the check made before every reuse of a pooled
// connection (see probe): one non-blocking peek at an idle TCP conn.
func BenchmarkReuseCheck(b *testing.B) {
	url, _ := rawServer(b, func(nc net.Conn, br *bufio.Reader) { br.ReadByte() })
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	nc, err := tr.dial(context.Background(), url[len("http://"):])
	if err != nil {
		b.Fatal(err)
	}
	c := newConn(tr.pool("x"), nc, 0)
	defer nc.Close()
	b.ReportAllocs()
	for b.Loop() {
		if !c.probe.ok() {
			b.Fatal("an idle conn failed the check")
		}
	}
}

func benchTransports(b *testing.B, url string) {
	transports := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", &Transport{}},
		{"http.Transport", &http.Transport{
			MaxConnsPerHost: DefaultMaxConnsPerHost, MaxIdleConnsPerHost: DefaultMaxConnsPerHost,
			IdleConnTimeout: 30 * time.Second, DisableCompression: true,
		}},
	}
	for _, tc := range transports {
		b.Run(tc.name, func(b *testing.B) {
			defer tc.rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			b.Run("seq", func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				b.ReportAllocs()
				for b.Loop() {
					roundTrip(b, tc.rt, req)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
					for pb.Next() {
						roundTrip(b, tc.rt, req)
					}
				})
			})
		})
	}
}

func roundTrip(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}
