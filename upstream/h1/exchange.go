package h1

import (
	"net/http"
	"net/http/httptrace"

	"github.com/sluicehq/sluice/internal/rawio"
)

// A round trip on a reused connection used to make four system calls on
// the upstream side: the peek that checks the idle connection (see probe),
// the send of the request, a read of the answer that usually found nothing
// yet (EAGAIN), and the read after the poller woke the goroutine. nginx makes
// two. A connection that is a rawio.Exchanger (a TCP connection on Linux)
// instead sends a request that is wholly in memory in one exchange: the
// peek, the send and, once the poller says the answer is there, the read,
// all in one syscall.RawConn.Read (see rawio.Exchange). The peek is made
// right before the send, on the same poller registration, so the guarantee
// of the check before reuse holds as before: the pool does not peek at such
// a connection when it hands it out, and the round trip's exchange (or, for
// a request not sent by exchange, a probe before the write) does. A
// connection that fails it was closed having sent nothing, and the
// transport takes another, as the pool does with one that fails its probe.
//
// The requests sent by exchange are those built in memory: a request
// without a body that writeRequest takes (the common proxied GET), and one
// with a body in memory (GetBody set) of at most maxExchangeBody bytes,
// without httptrace hooks (whose WroteRequest must come after the write).
// A reused connection's check of a request with a body is a probe before
// the body is read, so that a connection that fails it has consumed no
// byte of the body; the exchange then only sends and reads. Everything else
// is written through the conn's bufio.Writer, as on a connection that is
// not an Exchanger.

// maxExchangeBody bounds the body of a request sent by exchange.
const maxExchangeBody = 4 << 10

// maxKeptOut bounds the request buffer a conn keeps between round trips:
// a larger one (a request with large fields) is dropped after its use.
const maxKeptOut = 16 << 10

// buffer puts wr in c.out and reports true when it is to be sent by
// exchange. With false and no error, wr is to be written the usual way; an
// error is its body's (a *reqBodyError), and nothing was sent.
func (c *conn) buffer(wr *http.Request) (bool, error) {
	if c.ex == nil {
		return false, nil
	}
	if !hasBody(wr) {
		b, ok := appendRequest(c.out[:0], wr)
		c.out = b
		return ok, nil
	}
	if wr.GetBody == nil || wr.ContentLength <= 0 || wr.ContentLength > maxExchangeBody ||
		httptrace.ContextClientTrace(wr.Context()) != nil {
		return false, nil
	}
	w := appendWriter{b: c.out[:0]}
	err := writeWithBody(&w, wr)
	c.out = w.b
	return err == nil, err
}

// exchange is the conn's Read while c.out waits to be sent: it sends it
// and reads the answer's first bytes into p, in one exchange, first
// checking that the conn is quiet when c.quiet is set.
func (c *conn) exchange(p []byte) (int, error) {
	c.pending = false
	w, n, err := c.ex.Exchange(c.out, p, c.quiet)
	c.nwritten += int64(w)
	c.notQuiet = err == rawio.ErrNotQuiet
	return n, err
}

// appendWriter is an io.Writer that appends to b. It is an io.ByteWriter,
// so that Request.Write does not wrap it in a bufio.Writer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

func (w *appendWriter) WriteByte(b byte) error {
	w.b = append(w.b, b)
	return nil
}
