package hostile

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// rawBackend is a backend written on a bare TCP listener, so that it can
// answer what no HTTP server library would write: a second answer nobody
// asked for, a body shorter than declared, a chunk size that is no number.
type rawBackend struct {
	*connServer
	answer rawAnswer
	mu     sync.Mutex
	nreq   int
	served chan served // every request's connection, once answered
}

// served tells the test which connection answered which request.
type served struct {
	conn net.Conn
	id   string // the request's X-Req-Id
	n    int    // the request's rank at this backend, from 0
}

// rawAnswer writes the answer to req, the n-th request this backend has
// received, on conn, and reports whether to keep reading requests from it.
type rawAnswer func(conn net.Conn, req *http.Request, n int) (keepAlive bool)

func newRawBackend(t *testing.T, answer rawAnswer) *rawBackend {
	t.Helper()
	b := &rawBackend{answer: answer, served: make(chan served, 64)}
	b.connServer = serveConns(t, b.serve)
	return b
}

// connServer is a loopback listener whose every connection serve handles
// on a goroutine of its own; the connections close with the test. The raw
// backends of the suite are made of one.
type connServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func serveConns(t *testing.T, serve func(net.Conn)) *connServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &connServer{ln: ln}
	go s.accept(serve)
	t.Cleanup(s.close)
	return s
}

func (s *connServer) addr() string { return s.ln.Addr().String() }

func (s *connServer) accept(serve func(net.Conn)) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		go serve(c)
	}
}

// connections is the number of connections the server has accepted.
func (s *connServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *connServer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		b.mu.Lock()
		n := b.nreq
		b.nreq++
		b.mu.Unlock()
		keep := b.answer(c, req, n)
		select {
		case b.served <- served{conn: c, id: req.Header.Get("X-Req-Id"), n: n}:
		default:
		}
		if !keep {
			return
		}
	}
}
