package hostile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangLimit is how long a read waits before the suite calls the gateway
// hung. It is far above anything a correct gateway needs on a loaded
// machine, and below the limits a hang would otherwise run into.
const hangLimit = 20 * time.Second

// answer is one HTTP answer read off a raw connection.
type answer struct {
	resp    *http.Response
	body    []byte
	bodyErr error // the body ended before its framing said it would
}

func (a answer) status() int { return a.resp.StatusCode }

// fromBackend reports whether an echo backend wrote the answer: it sets
// X-Seen, which the gateway's own answers never carry.
func (a answer) fromBackend() bool { return a.resp.Header.Get("X-Seen") != "" }

// isProblem reports whether the answer is an RFC 9457 problem body.
func (a answer) isProblem() bool {
	ct := a.resp.Header.Get("Content-Type")
	return strings.EqualFold(strings.TrimSpace(strings.Split(ct, ";")[0]), "application/problem+json")
}

func (a answer) String() string {
	return fmt.Sprintf("%d X-Seen=%q %q (%d body bytes, body error %v)", a.status(),
		a.resp.Header.Get("X-Seen"), a.resp.Header.Get("Content-Type"), len(a.body), a.bodyErr)
}

// exchange is the outcome of writing bytes on one connection and reading
// every answer until the connection ended.
type exchange struct {
	answers []answer
	end     error // why reading stopped: io.EOF is a clean close
}

// closed reports whether the gateway closed the connection (cleanly or with
// a reset), as opposed to leaving it hanging past the deadline.
func (x exchange) closed() bool { return isClosed(x.end) }

func (x exchange) String() string {
	var b strings.Builder
	for i, a := range x.answers {
		fmt.Fprintf(&b, "answer %d: %s; ", i, a)
	}
	fmt.Fprintf(&b, "then %v", x.end)
	return b.String()
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dial opens a raw connection to addr.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangLimit)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send writes raw on a new connection to addr and reads answers until the
// connection ends or hangLimit passes. The answers are read as answers to
// GET (method HEAD reads them as answers to HEAD).
func send(t *testing.T, addr, raw string) exchange {
	t.Helper()
	return sendMethod(t, addr, raw, http.MethodGet)
}

func sendMethod(t *testing.T, addr, raw, method string) exchange {
	t.Helper()
	c := dial(t, addr)
	// Written aside: a gateway that refuses early may never read it all.
	go func() { _, _ = io.WriteString(c, raw) }()
	return readAll(c, method)
}

// readAll reads answers from c until it ends or hangLimit passes.
func readAll(c net.Conn, method string) exchange {
	var x exchange
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			x.end = err
			return x
		}
		body, err := io.ReadAll(resp.Body)
		x.answers = append(x.answers, answer{resp: resp, body: body, bodyErr: err})
		if err != nil {
			x.end = err
			return x
		}
		if resp.Close {
			// The gateway said it closes: the next read must see it.
			_, err := br.Peek(1)
			if err == nil {
				err = errors.New("bytes after an answer that said Connection: close")
			}
			x.end = err
			return x
		}
	}
}

// waitClosed waits, up to limit, for the peer to close c, discarding what
// it sends, and returns how long that took and the error that ended it.
func waitClosed(c net.Conn, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	return time.Since(start), err
}

// get sends one GET of target with the extra header lines on a new
// connection and returns its first answer.
func get(t *testing.T, addr, target string, header ...string) (answer, exchange) {
	t.Helper()
	raw := "GET " + target + " HTTP/1.1\r\nHost: h\r\n"
	for _, h := range header {
		raw += h + "\r\n"
	}
	x := send(t, addr, raw+"Connection: close\r\n\r\n")
	if len(x.answers) == 0 {
		t.Fatalf("GET %s: no answer (%v)", target, x.end)
	}
	return x.answers[0], x
}
