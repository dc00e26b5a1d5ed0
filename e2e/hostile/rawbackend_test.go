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
	ln     net.Listener
	answer rawAnswer
	mu     sync.Mutex
	conns  []net.Conn
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, answer: answer, served: make(chan served, 64)}
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

func (b *rawBackend) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		go b.serve(c)
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

// connections is the number of connections the backend has accepted.
func (b *rawBackend) connections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

func (b *rawBackend) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}
