package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// A request body's Read can fail while the request is written: the client
// of a proxy hung up, or sent a malformed body. That is the body's fault,
// not the connection's or the server's, and the caller must be able to tell
// (the router marks such errors with a ClientFault method, which upstream
// looks for with errors.As). Request.Write returns it in a type of net/http
// that does not unwrap; http.Transport unpacks it, and so does h1, by
// recording the error as it passes.

// reqBodyError is the error of a round trip whose request body failed to
// read. It wraps the body's error; such a round trip is not retried, and
// its error does not wrap ErrNothingWritten.
type reqBodyError struct{ err error }

func (e *reqBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *reqBodyError) Unwrap() error { return e.err }

// recordingBody passes Reads through and keeps the first error other than
// io.EOF.
type recordingBody struct {
	io.ReadCloser
	err error
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// writeWithBody writes req, which has a body, with Request.Write, and
// returns a *reqBodyError when reading the body failed.
func writeWithBody(w io.Writer, req *http.Request) error {
	rb := &recordingBody{ReadCloser: req.Body}
	r2 := *req // the caller's request is not modified
	r2.Body = rb
	err := r2.Write(w)
	if rb.err != nil {
		return &reqBodyError{rb.err}
	}
	return err
}

// errBodyStalled is the cause of a round trip abandoned, at its context's
// end, while its request body's Read was blocked.
var errBodyStalled = errors.New("request body read still blocked")

// writeBody writes req, which has a body, and flushes it. A request body's
// Read can block for as long as its source likes (a client that stalls its
// upload), and the context's end, which interrupts the conn's I/O, cannot
// interrupt it: so the write runs in a goroutine of its own, which writeBody
// leaves behind, returning errBodyStalled, when ctx ends first. The
// goroutine then still owns c.bw and ends with the body's Read; the caller
// must close the conn (its writes then fail) and never touch c.bw again.
//
// A body with GetBody set is taken to be in memory, as http.NewRequest sets
// GetBody for bytes and strings readers, and is written inline: starting a
// goroutine and waking a processor for it cost more than the rest of such a
// round trip when processors are idle.
func (c *conn) writeBody(ctx context.Context, req *http.Request) error {
	done := ctx.Done()
	if done == nil || req.GetBody != nil {
		if err := writeWithBody(c.bw, req); err != nil {
			return err
		}
		return c.bw.Flush()
	}
	errc := make(chan error, 1)
	go func() {
		err := writeWithBody(c.bw, req)
		if err == nil {
			err = c.bw.Flush()
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-done:
		select {
		case err := <-errc: // done meanwhile
			return err
		default:
			return errBodyStalled
		}
	}
}
