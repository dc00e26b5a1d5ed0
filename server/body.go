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
	size           int64 // Content-Length, or -1 when chunked
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
	if b.expectContinue {
		b.w.writeContinue()
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if err == io.EOF {
		b.sawEOF = true
		if b.w.c.br.Buffered() == 0 {
			b.w.c.watch.arm()
		}
	}
	return n, err
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
// request. It reports false when the connection must close instead: the rest
// is too big, the handler closed the body early, or reading it failed.
func (b *body) discard() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.sawEOF:
		return true
	case b.closed:
		return false
	case b.size >= 0 && b.size-b.read >= maxPostHandlerRead:
		return false
	}
	n, err := io.CopyN(io.Discard, b.rc, maxPostHandlerRead+1)
	b.read += n
	if err == io.EOF {
		b.sawEOF = true
		return true
	}
	return false
}
