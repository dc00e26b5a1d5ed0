package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A backend that writes bytes nobody asked for on a connection (a late
// second answer, the body of a HEAD or 204 answer) poisons it: whoever
// sends the next request on it reads those bytes as its answer. Each test
// below sends two requests, each with an id that the backend echoes, and
// checks that the second gets its own answer, on a new connection, and
// that the poisoned one was closed.

// unsolicited is the answer nobody asked for.
const unsolicited = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nunsolicited"

// poisoner is a raw backend. It answers every request with answer(id,
// method); on its first connection, once told to, it writes late bytes
// after the first answer. It records when a connection's client closed it.
type poisoner struct {
	answer func(id, method string) string
	late   string        // written on the first conn after its first answer
	lateCh chan struct{} // closed by the test: write late now

	conns  atomic.Int32
	closed [2]chan struct{} // closed when the client closed conn i
}

func newPoisoner(answer func(id, method string) string, late string) *poisoner {
	return &poisoner{answer: answer, late: late, lateCh: make(chan struct{}),
		closed: [2]chan struct{}{make(chan struct{}), make(chan struct{})}}
}

func (p *poisoner) serve(nc net.Conn, br *bufio.Reader) {
	i := p.conns.Add(1) - 1
	for n := 0; ; n++ {
		req, ok := readRequest(br)
		if !ok {
			if i < 2 {
				close(p.closed[i])
			}
			return
		}
		if _, err := io.WriteString(nc, p.answer(req.Header.Get("X-Id"), req.Method)); err != nil {
			return
		}
		if i == 0 && n == 0 && p.late != "" {
			<-p.lateCh
			if _, err := io.WriteString(nc, p.late); err != nil {
				return
			}
		}
	}
}

// idAnswer answers 200 with the id as the body.
func idAnswer(id, _ string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(id), id)
}

// sendID sends a request carrying id and returns the status and body.
func sendID(t *testing.T, tr *Transport, method, url, id string) (int, string) {
	t.Helper()
	req := mustReq(t, method, url, "")
	req.Header.Set("X-Id", id)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, id, err)
	}
	return resp.StatusCode, string(b)
}

// idleConn returns the one idle conn of url's pool.
func idleConn(t *testing.T, tr *Transport, url string) *conn {
	t.Helper()
	p := tr.pool(strings.TrimPrefix(url, "http://"))
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) != 1 {
		t.Fatalf("%d idle conns, want 1", len(p.idle))
	}
	return p.idle[0]
}

// checkPoisoned runs the two requests against a poisoner with answer and
// late, once for each of checkModes: the first with method; then, if late
// is set, it waits until the late bytes reached the idle conn; then a GET,
// which must get its own answer on a new conn.
func checkPoisoned(t *testing.T, answer func(id, method string) string, late, method, wantFirst string) {
	for _, m := range checkModes {
		t.Run(m.name, func(t *testing.T) {
			tr, d := newTransport(t)
			d.noExchange = m.noExchange
			checkPoisonedBy(t, tr, newPoisoner(answer, late), method, wantFirst)
		})
	}
}

func checkPoisonedBy(t *testing.T, tr *Transport, p *poisoner, method, wantFirst string) {
	t.Helper()
	url, _ := rawServer(t, p.serve)
	if code, body := sendID(t, tr, method, url, "id-1"); code/100 != 2 || body != wantFirst {
		t.Fatalf("first answer %d %q, want %q", code, body, wantFirst)
	}
	if p.late != "" {
		c := idleConn(t, tr, url)
		close(p.lateCh)
		waitFor(t, "the late bytes to reach the idle conn", func() bool { return inq(t, c.nc) == len(p.late) })
	}
	if code, body := sendID(t, tr, "GET", url, "id-2"); code != 200 || body != "id-2" {
		t.Fatalf("second request got %d %q, want its own answer %q", code, body, "id-2")
	}
	select {
	case <-p.closed[0]:
	case <-time.After(10 * time.Second):
		t.Fatal("the poisoned conn was not closed")
	}
	if n := p.conns.Load(); n != 2 {
		t.Fatalf("%d conns, want 2", n)
	}
}

func TestUnsolicitedAnswerAfterContentLength(t *testing.T) {
	checkPoisoned(t, idAnswer, unsolicited, "GET", "id-1")
}

func TestLateBytesAfter204(t *testing.T) {
	answer := func(id, method string) string {
		if id == "id-1" {
			return "HTTP/1.1 204 No Content\r\n\r\n"
		}
		return idAnswer(id, method)
	}
	checkPoisoned(t, answer, unsolicited, "GET", "")
}

// A backend that sends a body with its answer to HEAD, a little later.
func TestBodyAfterHeadAnswer(t *testing.T) {
	answer := func(id, method string) string {
		if method == "HEAD" {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(unsolicited))
		}
		return idAnswer(id, method)
	}
	checkPoisoned(t, answer, unsolicited, "HEAD", "")
}

// Bytes after the answer's end in the same write are in the conn's buffer
// when the body ends (or, if the segment was split, readable on the conn).
func TestExtraBytesInSameWrite(t *testing.T) {
	answer := func(id, method string) string {
		if id == "id-1" {
			return idAnswer(id, method) + unsolicited
		}
		return idAnswer(id, method)
	}
	checkPoisoned(t, answer, "", "GET", "id-1")
}

// A conn handed straight from a finished request to one waiting for a slot
// is checked like an idle one.
func TestUnsolicitedAnswerOnHandOff(t *testing.T) {
	for _, m := range checkModes {
		t.Run(m.name, func(t *testing.T) {
			tr, d := newTransport(t)
			d.noExchange = m.noExchange
			unsolicitedAnswerOnHandOff(t, tr)
		})
	}
}

func unsolicitedAnswerOnHandOff(t *testing.T, tr *Transport) {
	p := newPoisoner(idAnswer, unsolicited)
	url, _ := rawServer(t, p.serve)
	tr.MaxConnsPerHost = 1
	req := mustReq(t, "GET", url, "")
	req.Header.Set("X-Id", "id-1")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	req2 := mustReq(t, "GET", url, "")
	req2.Header.Set("X-Id", "id-2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := tr.RoundTrip(req2.WithContext(ctx))
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	pool := tr.pool(strings.TrimPrefix(url, "http://"))
	waitFor(t, "a waiter", func() bool { pool.mu.Lock(); defer pool.mu.Unlock(); return len(pool.waiters) == 1 })
	// The late answer arrives before the first body is read to its end.
	close(p.lateCh)
	c := resp.Body.(*body).c
	waitFor(t, "the late bytes", func() bool { return c.br.Buffered()+inq(t, c.nc) == len("id-1")+len(unsolicited) })
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "id-1" {
		t.Fatalf("first body %q, %v", b, err)
	}
	resp.Body.Close()
	resp2 := <-done
	if resp2 == nil {
		t.FailNow()
	}
	b, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || string(b) != "id-2" {
		t.Fatalf("second request got %q, %v; want its own answer", b, err)
	}
	select {
	case <-p.closed[0]:
	case <-time.After(10 * time.Second):
		t.Fatal("the poisoned conn was not closed")
	}
}
