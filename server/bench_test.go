package server

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// benchBody is a small JSON answer, as an API gateway mostly sends.
var benchBody = []byte(`{"id":42,"name":"widget","tags":["a","b","c"],"price":12.5,"stock":true}`)

// benchHandler answers every request with benchBody and a Content-Type,
// letting the server compute the Content-Length.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(benchBody)
})

// benchGatewayHandler answers as benchHandler does, under a write deadline
// set and cleared around its write, as the gateway's routes copy an answer
// (router/answer.go).
var benchGatewayHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	w.Write(benchBody)
	rc.SetWriteDeadline(time.Time{})
})

// BenchmarkServeKeepAlive measures one request and its answer on a
// kept-alive connection, for this server and for net/http's with the same
// handler: a raw client writes a GET and reads the answer, without
// allocating, so that the allocations reported are the server's. The
// "gateway" runs have the gateway's limits (cmd/gateway/listen.go) and
// benchGatewayHandler: the deadlines a default route's request costs.
func BenchmarkServeKeepAlive(b *testing.B) {
	quiet := log.New(io.Discard, "", 0)
	b.Run("sluice", func(b *testing.B) {
		s := &Server{Handler: benchHandler, ErrorLog: quiet}
		benchKeepAlive(b, s.Serve, s.Close)
	})
	b.Run("net-http", func(b *testing.B) {
		s := &http.Server{Handler: benchHandler, ErrorLog: quiet}
		benchKeepAlive(b, s.Serve, s.Close)
	})
	b.Run("sluice-gateway", func(b *testing.B) {
		s := &Server{Handler: benchGatewayHandler, ErrorLog: quiet,
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		benchKeepAlive(b, s.Serve, s.Close)
	})
	b.Run("net-http-gateway", func(b *testing.B) {
		s := &http.Server{Handler: benchGatewayHandler, ErrorLog: quiet,
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		benchKeepAlive(b, s.Serve, s.Close)
	})
}

func benchKeepAlive(b *testing.B, serve func(net.Listener) error, stop func() error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		serve(ln)
		close(served)
	}()
	b.Cleanup(func() {
		stop()
		<-served
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /v1/items/42 HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: application/json\r\n\r\n")

	b.ReportAllocs()
	user0, cpu0 := processCPU()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := readBenchAnswer(br); err != nil {
			b.Fatal(err)
		}
	}
	// The CPU the process spent per request, the client's included: on a
	// loaded machine a steadier measure of the server's cost than ns/op,
	// which counts the waits for the other side too. User space apart: the
	// system calls, the same for every server, dwarf the rest.
	user1, cpu1 := processCPU()
	b.ReportMetric(float64(user1-user0)/float64(b.N), "user-ns/op")
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
}

// readBenchAnswer reads a 200 answer framed by a Content-Length of
// len(benchBody), without allocating.
func readBenchAnswer(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return errBench("status line " + strconv.Quote(string(line)))
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return err
			}
			length = n
		}
	}
	if length != len(benchBody) {
		return errBench("Content-Length " + strconv.Itoa(length))
	}
	_, err = br.Discard(length)
	return err
}

type errBench string

func (e errBench) Error() string { return string(e) }
