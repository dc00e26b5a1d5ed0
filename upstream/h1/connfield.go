package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
)

// A backend's Connection field names the fields of its answer meant for
// this hop only (RFC 9110, section 7.6.1): with "Connection: close, X-Hop",
// X-Hop must not be forwarded. The router leaves out the fields an
// answer's Connection field names, which it can do only if the field
// reaches it. http.ReadResponse deletes the whole field from an answer of
// HTTP/1.1 or later that holds "close" (it keeps what it needs, as
// Response.Close), and with it the names of the fields not to forward:
// X-Hop reached the client, as it does through net/http's ReverseProxy.
//
// So h1 keeps the Connection fields as the backend sent them, whichever
// path reads the answer: parseResponse never deletes them, and
// readResponse puts back those ReadResponse deleted, read again from the
// header's bytes, which a headerTap keeps while ReadResponse reads them.
// That is the one deliberate difference between h1's header and
// ReadResponse's; the differential tests allow for it and for nothing
// else (connectionKept in respparse_test.go). The default Fallback's
// answers, which net/http's transport reads, keep them too, read again from
// the bytes a tap on its conns keeps (fallbackconn.go).

// maxKeptTap bounds the buffer a headerTap keeps between answers: a larger
// one, kept for a rare large header, is dropped.
const maxKeptTap = 16 << 10

// headerTap is the reader under a conn's bufio.Reader. While on, it keeps
// what it reads, after what the bufio.Reader held when it was turned on:
// the header ReadResponse reads, and whatever follows it in those reads.
// It keeps at most what the conn lets the header take
// (Transport.MaxResponseHeaderBytes).
type headerTap struct {
	r    io.Reader
	on   bool
	kept []byte
}

func (t *headerTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.on {
		t.kept = append(t.kept, p[:n]...)
	}
	return n, err
}

// start turns t on, keeping first what br, which reads from t, has
// buffered and not yet consumed.
func (t *headerTap) start(br *bufio.Reader) {
	held, _ := br.Peek(br.Buffered()) // buffered: cannot fail
	t.kept = append(t.kept[:0], held...)
	t.on = true
}

// stop turns t off and returns what it kept, valid until the next start.
func (t *headerTap) stop() []byte {
	t.on = false
	kept := t.kept
	if cap(t.kept) > maxKeptTap {
		t.kept = nil
	}
	return kept
}

var errConnectionLost = errors.New("h1: cannot read again the Connection field of a response header")

// keepConnection puts back in resp, which http.ReadResponse read from the
// header at the start of header, the Connection fields ReadResponse
// deleted: those of an answer of HTTP/1.1 or later that hold "close"
// (net/http's shouldClose), which it deletes only when it sets Close. It
// reads the header again as ReadResponse did, with net/textproto, and so
// finds the same fields. Its error, which bytes ReadResponse read cannot
// cause, fails the round trip: an answer whose fields not to forward are
// unknown is not passed on.
func keepConnection(resp *http.Response, header []byte) error {
	if !connectionDeleted(resp) {
		return nil
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(header)))
	if _, err := tp.ReadLine(); err != nil { // the status line
		return errConnectionLost
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return errConnectionLost
	}
	if vv := h["Connection"]; vv != nil {
		resp.Header["Connection"] = vv
	}
	return nil
}

// connectionDeleted reports whether http.ReadResponse may have deleted
// resp's Connection fields: it does for an answer of HTTP/1.1 or later
// whose fields hold "close" (net/http's shouldClose), and then sets Close
// (which it sets too for a body delimited by the connection's close).
func connectionDeleted(resp *http.Response) bool {
	return resp.Close && resp.ProtoAtLeast(1, 1) && resp.Header["Connection"] == nil
}
