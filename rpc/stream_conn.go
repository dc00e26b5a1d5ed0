package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// streamQueue is how many received messages a stream holds for its reader
// before it stops reading the connection; it also stops while those it
// holds have MaxMessageBytes or more in all (stream_limits.go). Reading on
// while a message waits keeps the peer's close, pings and a lost connection
// seen (a handler that reads one message and then only sends must still
// learn that its client left); stopping at the bound is the back-pressure on
// a peer that sends faster than this side receives.
const streamQueue = 16

// conn is what both ends of a stream share: JSON messages over one WebSocket
// connection, a reader that keeps control frames answered and sees the
// peer's close, and a watcher that applies the idle timeout and the life
// context.
type conn struct {
	ws     *websocket.Conn
	idle   time.Duration
	in     chan []byte   // messages the reader read and nobody has received yet
	queue  queueBound    // what the messages in in hold, and the reader's wait for room
	done   chan struct{} // closed when the reader has returned
	quit   chan struct{} // closed when this side ended the stream
	closed chan struct{} // closed when the watcher has returned, its close handshake done
	once   sync.Once
	local  error // why this side ended the stream; set before quit closes
	remote error // why reading ended; set before done closes
	start  time.Time
	last   atomic.Int64 // time.Since(start) at the last message either way
}

// newConn starts serving ws. When life ends, the stream is closed with 1001;
// onEnd, when not nil, is told why the stream ended as soon as it has.
func newConn(life context.Context, ws *websocket.Conn, idle time.Duration, maxBytes int64, onEnd func(error)) *conn {
	c := prepareConn(ws, idle, maxBytes)
	c.serve(life, onEnd)
	return c
}

// prepareConn returns the stream end over ws, not yet served (a test sets
// its queue's hook in between).
func prepareConn(ws *websocket.Conn, idle time.Duration, maxBytes int64) *conn {
	if idle <= 0 {
		idle = DefaultStreamIdleTimeout
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBodyBytes
	}
	ws.SetReadLimit(maxBytes)
	return &conn{ws: ws, idle: idle, in: make(chan []byte, streamQueue),
		queue: queueBound{max: maxBytes, room: make(chan struct{}, 1)}, done: make(chan struct{}),
		quit: make(chan struct{}), closed: make(chan struct{}), start: time.Now()}
}

// serve starts c's reader and watcher.
func (c *conn) serve(life context.Context, onEnd func(error)) {
	go c.read()
	go c.watch(life, onEnd)
}

func (c *conn) touch() { c.last.Store(int64(time.Since(c.start))) }

func (c *conn) read() {
	defer close(c.done)
	for c.roomToRead() {
		typ, b, err := c.ws.Read(context.Background())
		// JSON is UTF-8 (RFC 8259, section 8.1), as a text frame is (RFC
		// 6455, section 8.1), but json.Valid lets any byte through inside a
		// string: the handler would get U+FFFD in its place, or the bytes
		// themselves in a json.RawMessage, where the unary server answers
		// 400.
		if err == nil && (typ != websocket.MessageText || !utf8.Valid(b) || !json.Valid(b)) {
			bad := &StreamError{Code: ClosePolicy, Reason: "a message must be one JSON value in a text frame"}
			c.end(bad, bad.Code, bad.Reason)
			return
		}
		if err != nil {
			c.remote = err
			return
		}
		c.touch()
		c.queue.held.Add(int64(len(b)))
		select {
		case c.in <- b:
		case <-c.quit:
			return
		}
	}
}

// watch ends the stream when it has been idle too long or life ends, and
// tells onEnd when it has ended.
func (c *conn) watch(life context.Context, onEnd func(error)) {
	defer close(c.closed)
	t := time.NewTimer(c.idle)
	defer t.Stop()
	var err error
	reason := ""
	for {
		select {
		case <-c.quit:
		case <-c.done:
			_ = c.ws.CloseNow() // a reader that failed may leave it open
		case <-life.Done():
			err, reason = fmt.Errorf("rpc: stream: %w", life.Err()), life.Err().Error()
			if cause := context.Cause(life); cause != life.Err() {
				err, reason = fmt.Errorf("rpc: stream: %w (%w)", cause, life.Err()), cutReason(cause.Error())
			}
		case <-t.C:
			if left := c.idle - (time.Since(c.start) - time.Duration(c.last.Load())); left > 0 {
				t.Reset(left)
				continue
			}
			err, reason = &StreamError{Code: CloseGoingAway, Reason: "idle"}, "idle"
		}
		break
	}
	first := err != nil && c.stop(err)
	if onEnd != nil {
		onEnd(c.ended())
	}
	if first {
		_ = c.ws.Close(websocket.StatusCode(CloseGoingAway), reason)
	}
}

// stop marks the stream ended by this side for err, and reports whether it
// was the first to.
func (c *conn) stop(err error) (first bool) {
	c.once.Do(func() {
		c.local = err
		close(c.quit)
		first = true
	})
	return first
}

// end ends the stream from this side, unless it has ended already, with the
// close handshake: code and reason go to the peer, err to later callers.
func (c *conn) end(err error, code int, reason string) error {
	if !c.stop(err) {
		return nil
	}
	if err := c.ws.Close(websocket.StatusCode(code), reason); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("rpc: closing a stream: %w", err)
	}
	return nil
}

// ended returns why the stream ended, or nil while it is open. This side's
// reason wins.
func (c *conn) ended() error {
	select {
	case <-c.quit:
		return c.local
	default:
	}
	select {
	case <-c.done:
		return remoteErr(c.remote)
	default:
		return nil
	}
}

// remoteErr translates the reader's last error.
func remoteErr(err error) error {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.StatusNormalClosure:
		return io.EOF
	case errors.As(err, &ce):
		return &StreamError{Code: int(ce.Code), Reason: ce.Reason}
	case errors.Is(err, websocket.ErrMessageTooBig):
		return &StreamError{Code: CloseTooBig, Reason: "message too big"}
	}
	return fmt.Errorf("rpc: stream connection lost: %w (%w)", io.ErrUnexpectedEOF, err)
}

func (c *conn) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("rpc: stream: encoding a message: %w", err)
	}
	if err := c.ended(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// ctx bounds the write, but the library is not handed it: it would
	// close the connection when ctx ends even after the frame was sent, as
	// long as the writing goroutine has not yet returned; when this side is
	// ending the stream (Shutdown cancels the handler's context), that cut
	// the 1001 close frame off. Here ctx ending cuts the connection only
	// while the write is still in progress, and not when this side's close
	// handshake is about to follow.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		if c.stopped() {
			return // the close handshake runs after the write, bounded by its own timeout
		}
		c.stop(fmt.Errorf("rpc: stream: a send was cut short: %w", ctx.Err()))
		_ = c.ws.CloseNow() // a message cut short cannot be taken back
	})
	err = c.ws.Write(context.Background(), websocket.MessageText, b)
	if !stop() {
		<-fired
	}
	if err != nil {
		if end := c.ended(); end != nil {
			return end
		}
		return fmt.Errorf("rpc: stream: sending: %w", err)
	}
	c.touch()
	return nil
}

func (c *conn) recv(ctx context.Context, v any) error {
	if c.stopped() {
		return c.local
	}
	// Messages that arrived before the peer closed are received first: the
	// reader queued them before it marked the connection done.
	select {
	case b := <-c.in:
		return c.received(b, v)
	default:
	}
	select {
	case b := <-c.in:
		return c.received(b, v)
	case <-c.quit:
		return c.local
	case <-c.done:
		select {
		case b := <-c.in:
			return c.received(b, v)
		default:
		}
		return c.ended()
	case <-ctx.Done():
		// The stream's own context ends with the stream: say why it ended.
		if err := c.ended(); err != nil {
			return err
		}
		return ctx.Err()
	}
}

// stopped reports whether this side has ended the stream.
func (c *conn) stopped() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

func decodeMessage(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("rpc: stream: decoding a message: %w", err)
	}
	return nil
}
