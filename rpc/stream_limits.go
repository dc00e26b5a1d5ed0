package rpc

import (
	"net/http"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/problem"
)

// What streams hold in memory is bounded twice: by the bytes of the
// messages each end queued for a Recv that has not come, and by how many
// streams a server has open. A peer that opens streams to a handler that
// does not receive, and fills them, then holds no more than MaxStreams ×
// about 2 × MaxMessageBytes until the idle timeout; 16 queued messages of
// up to MaxMessageBytes each, on as many streams as it liked, let it hold
// as much as it wanted.

// DefaultMaxStreams bounds the streams a StreamServer has open at once when
// its MaxStreams is zero. With the default MaxMessageBytes each stream
// holds at most about 2 MiB of received messages its handler has not
// taken, so that the streams of a full server hold about 2 GiB at most.
const DefaultMaxStreams = 1000

// maxStreams returns how many streams s may have open at once, or a
// negative number for no bound.
func (s *StreamServer) maxStreams() int {
	if s.MaxStreams == 0 {
		return DefaultMaxStreams
	}
	return s.MaxStreams
}

// refuseFull answers a handshake that would open a stream past MaxStreams:
// 503, with no handler run, so that the caller opens it on another node.
func refuseFull(w http.ResponseWriter) {
	w.Header().Set("Sluice-Retry", "not-processed") // upstream.RetryHeader, RetryNotProcessed
	problem.Write(w, http.StatusServiceUnavailable, problem.TypeOverloaded, "Too many streams",
		"the server has as many streams open as it serves; open the stream on another node")
}

// queueBound bounds, by their bytes, the messages a stream end read and no
// Recv has taken yet: the reader reads no further message while they hold
// max or more, so that the connection's flow control holds the peer back,
// and resumes when a Recv takes one. A message may itself be up to max
// bytes, so the queue holds less than 2 × max.
type queueBound struct {
	max    int64                       // MaxMessageBytes
	held   atomic.Int64                // bytes of the messages queued, added before a message is queued
	room   chan struct{}               // holds a token when a Recv took a message since the reader last looked
	onLook func(held int64, full bool) // when not nil (tests), told each time the reader looks
}

// roomToRead waits until the queued messages hold less than their bound,
// and reports false if this side ended the stream meanwhile.
func (c *conn) roomToRead() bool {
	for {
		held := c.queue.held.Load()
		full := held >= c.queue.max
		if c.queue.onLook != nil {
			c.queue.onLook(held, full)
		}
		if !full {
			return true
		}
		select {
		case <-c.queue.room:
		case <-c.quit:
			return false
		}
	}
}

// received takes b, a message Recv took off the queue, out of the queue's
// bytes, wakes the reader if it waits for room, and decodes b into v.
func (c *conn) received(b []byte, v any) error {
	c.queue.held.Add(-int64(len(b)))
	select {
	case c.queue.room <- struct{}{}:
	default: // a token already waits for the reader
	}
	return decodeMessage(b, v)
}
