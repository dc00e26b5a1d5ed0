package upstream

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/upstream/h1"
)

// An answer of 101 Switching Protocols has a body that is the connection
// itself: net/http's Transport (to which h1 hands upgrade requests) returns
// it as an io.ReadWriteCloser, and the caller owns it from then on, whatever
// the request's context does. The attempt's wrapper keeps that: a proxy
// writes through it, and half-closes it with CloseWrite.

// upgradedBody is the attemptBody of a 101 answer: it writes to the
// connection and can half-close it.
type upgradedBody struct {
	*attemptBody
	w io.Writer
}

func (b *upgradedBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// CloseWrite half-closes the connection when it can, and returns
// http.ErrNotSupported when it cannot.
func (b *upgradedBody) CloseWrite() error { return h1.CloseWrite(b.w) }

// answerBody wraps body, an attempt's answer, so that its Close ends the
// attempt; a writable body (a 101's connection) stays writable.
func answerBody(body io.ReadCloser, done func(), cancel, acancel context.CancelFunc) io.ReadCloser {
	return answerBodyIn(new(attemptBody), body, done, cancel, acancel)
}

// answerBodyIn is answerBody with ab, unused, as the wrapper.
func answerBodyIn(ab *attemptBody, body io.ReadCloser, done func(), cancel, acancel context.CancelFunc) io.ReadCloser {
	*ab = attemptBody{ReadCloser: body, done: done, cancel: cancel, acancel: acancel}
	if w, ok := body.(io.Writer); ok {
		return &upgradedBody{attemptBody: ab, w: w}
	}
	return ab
}

// upgrades reports whether r asks to switch protocols: a handshake is never
// hedged, since the losing attempt would open a connection on a node only
// to drop it.
func upgrades(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}
