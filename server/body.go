package server

import (
	"io"
	"net/http"
	"sync"
)

// body wraps the request body that http.ReadRequest framed. It sends
// "100 Continue" on the first read when the client asked for it, remembers
// whether the body was read to its end, starts the watch then, and makes
// Close cheap: the server, not Close, decides what to do with an unread rest.
type body struct {
	mu             sync.Mutex
	rc             io.ReadCloser
	w              *response
	parsed, req    *http.Request // as http.ReadRequest returned it; the handler's copy
	size           int64         // Content-Length, or -1 when chunked
	read           int64
	sawEOF         bool
	closed         bool
	expectContinue bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.sawEOF {
		return 0, io.EOF
	}
	if b.expectContinue && b.w.canContinue.Load() {
		b.w.writeContinue()
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if err == io.EOF {
		b.eof()
		if b.w.c.br.Buffered() == 0 {
			b.w.c.watch.arm()
		}
	}
	return n, err
}

// eof records the body's end. Reading a chunked body's end sets the
// trailer on the request http.ReadRequest returned, which the handler's
// request (a copy made to give it a context) shares only when the trailer was
// declared: an undeclared one is handed over here, as net/http's server
// shows it.
func (b *body) eof() {
	b.sawEOF = true
	if b.req.Trailer == nil && b.parsed.Trailer != nil {
		b.req.Trailer = b.parsed.Trailer
	}
}

// Close marks the body closed; further reads fail.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// done reports whether the body was read to its end.
func (b *body) done() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sawEOF
}

// discard reads and drops what the handler left of the body, up to
// maxPostHandlerRead bytes, so that the connection can serve the next
// request. It reports false when the connection must close instead, and
// tooBig when that is because the rest is too big, not because reading it
// failed. A body the handler closed early is discarded too, as net/http's
// server does on Close.
func (b *body) discard() (ok, tooBig bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.sawEOF:
		return true, false
	case b.size >= 0 && b.size-b.read >= maxPostHandlerRead:
		return false, true
	}
	n, err := io.CopyN(io.Discard, b.rc, maxPostHandlerRead+1)
	b.read += n
	if err == io.EOF {
		b.eof()
		return true, false
	}
	return false, err == nil
}
