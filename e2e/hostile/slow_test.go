package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// headerTimeout is the listeners' ReadHeaderTimeout (cmd/gateway).
const headerTimeout = 10 * time.Second

// slack is what a loaded machine may add to a timeout before the suite
// calls it missed.
const slack = 8 * time.Second

func slowCases() []hcase {
	return []hcase{
		{family: "slow-clients", name: "a connection that sends nothing is closed at the header timeout", run: func(t *testing.T, s *stack) {
			c := dial(t, s.gw)
			took, err := waitClosed(c, headerTimeout+slack)
			if isTimeout(err) {
				t.Fatalf("still open after %v; the header timeout is %v", took, headerTimeout)
			}
		}},
		{family: "slow-clients", name: "a header sent a byte at a time is cut at the header timeout", run: func(t *testing.T, s *stack) {
			c := dial(t, s.gw)
			done := make(chan struct{})
			defer close(done)
			go trickle(c, "GET /stall/trickle HTTP/1.1\r\nHost: h\r\nX-Slow: "+strings.Repeat("a", 1000), done)
			took, err := waitClosed(c, headerTimeout+slack)
			if isTimeout(err) {
				t.Fatalf("still reading the header after %v; the header timeout is %v", took, headerTimeout)
			}
		}},
		{family: "slow-clients", name: "a stalled PUT body is answered 4xx within the route's 1s budget", run: func(t *testing.T, s *stack) {
			stalledBody(t, s, http.MethodPut)
		}},
		{family: "slow-clients", name: "a stalled POST body is answered 4xx within the route's 1s budget", run: func(t *testing.T, s *stack) {
			stalledBody(t, s, http.MethodPost)
		}},
		{family: "slow-clients", name: "a body declared to no route and never sent: 404 at the body idle timeout, then the close", run: declaredBodyNeverSent},
		{family: "slow-clients", name: "260 stalled uploads leave the service's pool to a normal GET", alone: true, run: stalledUploadsSparePool},
		{family: "slow-clients", name: "a client that never reads its answer holds no upstream connection past the budget", run: neverReads},
		{family: "slow-clients", name: "a client still sending a body the backend left unread gets its whole 4 MiB answer", run: unreadBodyWholeAnswer},
		{family: "slow-clients", name: "a client that pipelines requests and reads no answer is cut off at the write idle timeout", run: readsNoAnswer},
	}
}

// writeIdleTimeout is limits.write_idle_timeout's default, which the
// suite's gateway keeps.
const writeIdleTimeout = 30 * time.Second

// readsNoAnswer sends requests without end on one connection, through a
// small receive window, and reads none of their answers: small ones (404
// problems of about 2 KiB), each flushed after its handler returned, under
// no deadline of the router's. Once the sockets' buffers are full, a write
// to the client waits; the gateway must give it up at the write idle
// timeout and close the connection, which fails the client's writes. It
// held the connection, and its goroutine, for ever.
func readsNoAnswer(t *testing.T, s *stack) {
	c := dial(t, s.gw).(*net.TCPConn)
	if err := c.SetReadBuffer(1 << 10); err != nil {
		t.Fatal(err)
	}
	limit := writeIdleTimeout + slack
	_ = c.SetWriteDeadline(time.Now().Add(limit))
	req := []byte("GET /nowhere/" + strings.Repeat("x", 1500) + " HTTP/1.1\r\nHost: h\r\n\r\n")
	start := time.Now()
	sent := 0
	for {
		if _, err := c.Write(req); err != nil {
			if isTimeout(err) {
				t.Fatalf("the connection still takes requests %v after the first of %d, none of whose answers was read: the write idle timeout is %v",
					time.Since(start).Round(time.Millisecond), sent, writeIdleTimeout)
			}
			t.Logf("closed after %d requests, %v: %v", sent, time.Since(start).Round(time.Millisecond), err)
			return
		}
		sent++
	}
}

// trickle writes text to c one byte at a time, each 200ms, until done is
// closed or a write fails. It is the hostile client's pace, not a wait.
func trickle(c net.Conn, text string, done chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < len(text); i++ {
		if _, err := c.Write([]byte{text[i]}); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-done:
			return
		}
	}
}

func stalledBody(t *testing.T, s *stack, method string) {
	c := dial(t, s.gw)
	start := time.Now()
	if _, err := io.WriteString(c, method+" /stall/"+method+" HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(start.Add(time.Second + slack))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer %v after the body stalled (route budget 1s): %v", time.Since(start).Round(time.Millisecond), err)
	}
	body, _ := io.ReadAll(resp.Body)
	t.Logf("answered %d after %v: %s", resp.StatusCode, time.Since(start).Round(time.Millisecond), body)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("answered %d, want a 4xx: the stall is the client's", resp.StatusCode)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("answered with Content-Type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
}

// stalledUploads is more than the 256 connections the gateway keeps per
// backend node.
const stalledUploads = 260

func stalledUploadsSparePool(t *testing.T, s *stack) {
	base := metric(t, s, "sluice_requests_in_flight")
	conns := make([]net.Conn, 0, stalledUploads)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		// The next case alone reads the gateway's counters: let these
		// requests end first.
		waitMetric(t, s, "sluice_requests_in_flight", func(v float64) bool { return v <= base })
	}()
	for i := range stalledUploads {
		c, err := net.DialTimeout("tcp", s.gw, hangLimit)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := fmt.Fprintf(c, "POST /pool-up/%d HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789", i); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	waitMetric(t, s, "sluice_requests_in_flight", func(v float64) bool { return v >= base+stalledUploads })
	start := time.Now()
	a, x := get(t, s.gw, "/pool-get/x")
	t.Logf("GET while %d uploads stall: %s after %v", stalledUploads, x, time.Since(start).Round(time.Millisecond))
	if !a.fromBackend() || a.status() != http.StatusOK {
		t.Errorf("a normal GET to the service got %d (%s), want 200 from the backend: slow uploads starved its pool", a.status(), a.body)
	}
}

func neverReads(t *testing.T, s *stack) {
	c := dial(t, s.gw)
	if _, err := io.WriteString(c, "GET /big/x HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.big.started:
	case <-time.After(hangLimit):
		t.Fatal("the backend never got to write its answer")
	}
	a, x := get(t, s.gw, "/big/small")
	if a.status() != http.StatusOK || string(a.body) != "small" {
		t.Errorf("another client of the service, meanwhile: %s", x)
	}
	select {
	case err := <-s.big.ended:
		if err == nil {
			t.Errorf("the backend wrote all %d bytes to a client that reads nothing: the gateway held them", bigAnswer)
		}
	case <-time.After(2*time.Second + slack):
		t.Fatalf("the backend is still writing %v after the route's 2s budget: the upstream connection is held by a client that never reads", 2*time.Second+slack)
	}
	// The client reads at last: the answer must not look complete.
	x = readAll(c, http.MethodGet)
	if isTimeout(x.end) {
		t.Errorf("the connection was left open after its answer broke off: %v", x.end)
	}
	for _, a := range x.answers {
		if a.bodyErr == nil && len(a.body) == bigAnswer {
			t.Errorf("the answer arrived whole after the budget ended: %s", a)
		}
	}
}

// unreadBodyWholeAnswer sends a POST whose 8 MiB body the backend never
// reads, and reads the backend's 4 MiB answer through a small window while
// the body is still being sent. The gateway closes the connection after the
// answer (the rest of the body is too large to discard), and a close with
// the client's bytes unread resets the connection, which drops what the
// gateway's kernel had not sent yet: the gateway must drain the body first
// (found by package server's FuzzAnswer).
func unreadBodyWholeAnswer(t *testing.T, s *stack) {
	const body = 8 << 20
	c := dial(t, s.gw).(*net.TCPConn)
	_ = c.SetDeadline(time.Now().Add(hangLimit))
	// A receive buffer of a fixed size keeps much of the answer on the
	// gateway's side until the client reads it.
	if err := c.SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	head := "POST /big-up/x HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(body) + "\r\n\r\n"
	go func() { _, _ = c.Write(append([]byte(head), make([]byte, body)...)) }()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer's header: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want the backend's 200", resp.StatusCode)
	}
	// Read at once: within the half second net/http's server waits before
	// it closes (this case runs against both listener servers), however
	// loaded the machine. package server's TestUnreadBodyKeepsAnswer holds
	// the gateway's own server to a reader slower than that.
	got, err := io.Copy(io.Discard, resp.Body)
	if err != nil || got != unreadAnswer {
		t.Fatalf("read %d of the answer's %d bytes: %v", got, unreadAnswer, err)
	}
}

// declaredBodyNeverSent: a request that declares a body, to a path no
// route serves, whose body never comes. The answer (404) does not read the
// body; the server then reads its rest, up to 256 KiB, to keep the
// connection, before it writes the answer. That read must end (the router
// bounds it by the body idle timeout, 10 s here): the client gets its 404
// and the connection closes, where it was held, answer and all, for as long
// as the client liked.
func declaredBodyNeverSent(t *testing.T, s *stack) {
	c := dial(t, s.gw)
	if _, err := io.WriteString(c, "POST /nowhere/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	x := readAll(c, http.MethodPost)
	if len(x.answers) != 1 || x.answers[0].status() != http.StatusNotFound {
		t.Fatalf("%s, want one 404", x)
	}
	if isTimeout(x.end) {
		t.Fatalf("the connection stayed open past %v, its declared body never sent", hangLimit)
	}
}
