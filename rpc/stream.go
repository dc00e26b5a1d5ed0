package rpc

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/problem"
)

// StreamSubprotocol is the WebSocket subprotocol of a stream. Both ends
// must negotiate it; docs/rpc.md specifies it.
const StreamSubprotocol = "sluice.stream.v1"

// DefaultStreamIdleTimeout ends a stream on which no message went either way
// for that long, when no other idle timeout is set.
const DefaultStreamIdleTimeout = 60 * time.Second

// Close codes of a stream (RFC 6455 section 7.4.1).
const (
	CloseNormal       = 1000 // the sender is done: the handler returned nil, or the caller closed
	CloseGoingAway    = 1001 // the idle timeout, or the caller's context ended
	ClosePolicy       = 1008 // a message that is not one JSON value in a text frame
	CloseTooBig       = 1009 // a message over the receiver's bound
	CloseHandlerError = 1011 // the handler returned an error, which the reason names
)

// maxCloseReason is the longest reason a close frame carries, in bytes.
const maxCloseReason = 123

// ErrStreamClosed is returned by the methods of a stream that this side has
// closed.
var ErrStreamClosed = errors.New("rpc: stream closed")

// StreamError reports a stream that ended with a close code other than 1000:
// closed so by the peer, or by this side for the idle timeout or a bad
// message. Reason is the peer's text, for humans. It maps to 502
// may-have-been-processed: the messages sent so far may have had effects.
type StreamError struct {
	Code   int
	Reason string
}

// Error implements the error interface.
func (e *StreamError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("rpc: stream closed with %d", e.Code)
	}
	return fmt.Sprintf("rpc: stream closed with %d: %s", e.Code, e.Reason)
}

// Problem implements Problemer.
func (e *StreamError) Problem() (int, string, string) {
	return http.StatusBadGateway, problem.TypeMaybeDone, "Stream failed; its messages may have been processed"
}

// closeReason is the reason a handler's error closes its stream with: the
// title and detail that WriteError would answer, cut to fit a close frame.
func closeReason(err error) string {
	status, _, reason := StatusOf(err)
	detail := detailOf(err, status)
	if reason == "" {
		reason = http.StatusText(status)
	}
	if detail != "" {
		reason += ": " + detail
	}
	return cutReason(reason)
}

// cutReason returns s made fit for a close frame: valid UTF-8, at most
// maxCloseReason bytes, cut on a character boundary. A longer reason is not
// cut by the library but refused: the connection is then dropped without a
// close frame, and the peer sees a lost connection instead of the code.
func cutReason(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= maxCloseReason {
		return s
	}
	n := maxCloseReason
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
