package h1

import (
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
