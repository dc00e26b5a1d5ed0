package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAPostIsNotSentOnAConnItsServerIsClosing: a backend closes the
// connections it keeps alive after an idle time of its own (Node.js and
// Apache 5 s, gunicorn 2 s), and a request sent as it closes one is reset
// unanswered. A GET is then sent again on another connection; a POST may
// have been read, and is not: the client got 502 from a healthy node. The
// backend here resets a connection that carries a request after 1 s idle,
// as such a close crossing the request does; with the defaults, the
// gateway sends a POST after such an idle time on a fresh connection
// (upstream/h1, idle.go), and both POSTs are answered, once each.
func TestAPostIsNotSentOnAConnItsServerIsClosing(t *testing.T) {
	const idleClose = time.Second
	var executed, reset atomic.Int32
	backend := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		last := time.Time{}
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if !last.IsZero() && time.Since(last) >= idleClose {
				reset.Add(1)
				c.(*net.TCPConn).SetLinger(0)
				return
			}
			io.Copy(io.Discard, req.Body)
			executed.Add(1)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			last = time.Now()
		}
	})
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: ka, address: %q}\n", backend.addr())
	b.WriteString("routes:\n  - {name: ka, method: POST, path: /ka/*, service: ka}\n")
	_, addrs := startWith(t, b.String())
	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	post := func(i int) {
		t.Helper()
		resp, err := c.Post("http://"+addrs[0]+"/ka/x", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d: %d %s", i, resp.StatusCode, body)
		}
	}
	post(1)
	time.Sleep(idleClose + 100*time.Millisecond) // the backend's idle time: the scenario, not a wait
	post(2)
	if e, r := executed.Load(), reset.Load(); e != 2 || r != 0 {
		t.Fatalf("%d POSTs executed and %d reset, want 2 and 0", e, r)
	}
}
