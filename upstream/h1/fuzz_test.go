package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

// pipeServer answers every conn dialled through it with data, after reading
// one request, over an in-memory net.Pipe.
type pipeServer struct {
	data  []byte
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func (s *pipeServer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, srv := net.Pipe()
	s.mu.Lock()
	s.conns = append(s.conns, c, srv)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer srv.Close()
		if _, ok := readRequest(bufio.NewReader(srv)); ok {
			srv.Write(s.data)
		}
	}()
	return c, nil
}

// close closes every pipe, ending the server goroutines and the client's
// reads.
func (s *pipeServer) close() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// outcome is what a transport made of a response.
type outcome struct {
	headerErr error
	status    int
	header    http.Header
	http11    bool // the answer is of HTTP/1.1 or later
	length    int64
	body      []byte
	bodyErr   error
	trailer   http.Header
}

func fetch(rt http.RoundTripper, method string) (o outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://fuzz.test/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		o.headerErr = err
		return o
	}
	defer resp.Body.Close()
	o.status, o.header, o.length = resp.StatusCode, resp.Header, resp.ContentLength
	o.http11 = resp.ProtoAtLeast(1, 1)
	o.body, o.bodyErr = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	o.trailer = resp.Trailer
	return o
}

var conformanceSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;ext=1;q=\"x\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nbody until close",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nconnection: y\r\nX-Hop: s\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
	"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
	"HTTP/1.1 2x0 OK\r\n\r\n",
	"HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 +99 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
	"",
}

// FuzzResponse holds h1 to http.Transport's reading of arbitrary response
// bytes: the same header error or none, status, header and Content-Length,
// the same body bytes or a body error on both sides, and the same trailers.
//
// Deliberate differences, skipped: a 101 answer with Upgrade and
// "Connection: upgrade" fields. http.Transport returns the raw connection as
// its body; h1 sends upgrade requests to Fallback, and ends a 101 answer to
// any other request with an empty body and the connection closed. A
// status below 100, which http.Transport returns and h1 refuses (see
// badStatus). And Connection fields holding "close", which h1 keeps and
// http.Transport deletes (see lessKeptConnection).
func FuzzResponse(f *testing.F) {
	// http.Transport logs bytes that follow a response ("Unsolicited
	// response received on idle HTTP channel"), which many inputs have.
	out := log.Writer()
	log.SetOutput(io.Discard)
	f.Cleanup(func() { log.SetOutput(out) })
	for _, s := range conformanceSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	for _, tc := range truncations {
		f.Add([]byte(tc.answer), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		s1, s2 := &pipeServer{data: data}, &pipeServer{data: data}
		h1 := &Transport{DialContext: s1.DialContext}
		std := &http.Transport{DialContext: s2.DialContext, DisableCompression: true}
		defer func() {
			h1.CloseIdleConnections()
			std.CloseIdleConnections()
			s1.close()
			s2.close()
		}()
		got, want := fetch(h1, method), fetch(std, method)

		if want.headerErr == nil && badStatus(want.status) {
			if got.headerErr == nil {
				t.Fatalf("status %d: h1 took it, want a header error", want.status)
			}
			return
		}
		if (got.headerErr == nil) != (want.headerErr == nil) {
			t.Fatalf("header error: h1 %v, http.Transport %v", got.headerErr, want.headerErr)
		}
		if got.headerErr != nil {
			return
		}
		if got.status != want.status {
			t.Fatalf("status: h1 %d, http.Transport %d", got.status, want.status)
		}
		if got.status == http.StatusSwitchingProtocols && want.header.Get("Upgrade") != "" {
			return // see the doc comment
		}
		header := lessKeptConnection(got.header, want.header, want.http11)
		if !reflect.DeepEqual(header, want.header) || got.length != want.length {
			t.Fatalf("header: h1 %v %d, http.Transport %v %d", got.header, got.length, want.header, want.length)
		}
		if (got.bodyErr == nil) != (want.bodyErr == nil) {
			t.Fatalf("body error: h1 %v, http.Transport %v", got.bodyErr, want.bodyErr)
		}
		if got.bodyErr == nil && !bytes.Equal(got.body, want.body) {
			t.Fatalf("body: h1 %q, http.Transport %q", got.body, want.body)
		}
		if got.bodyErr == nil && !reflect.DeepEqual(got.trailer, want.trailer) {
			t.Fatalf("trailer: h1 %v, http.Transport %v", got.trailer, want.trailer)
		}
	})
}
