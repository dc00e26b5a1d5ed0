package server

import (
	"errors"
	"net"
	"time"
)

// On HTTP/2, a request's head is a header block: a HEADERS frame and the
// CONTINUATION frames after it, up to one flagged END_HEADERS. net/http's
// HTTP/2 server gathers a block as it comes, up to MaxHeaderBytes, with no
// timeout of its own: a client that sent a block slowly held it until the
// connection's idle timeout (2 minutes), where HTTP/1's ReadHeaderTimeout
// ends a slow head in 10 s; and as many as the connection bounds allowed.
// So NetHTTP's connection, serving HTTP/2 with prior knowledge (h2c, and
// HTTP/2 over TLS as NetHTTPTLS serves it), follows the frames net/http's HTTP/2 server reads from it (their 9-byte
// headers: length, type, flags) and holds each header block to what a head
// is held to: it must end within ReadHeaderTimeout of its first frame, or
// the connection is closed; and past the 4 KiB a head reads into a reader,
// it takes its room from the listener's budget of large heads until it
// ends (counted with the frame being read at its declared length, for
// which net/http's framer makes its buffer before the payload comes), or
// the connection is closed when there is none.

// HTTP/2 frame types and the flag that ends a header block (RFC 9113,
// section 6).
const (
	h2FrameHeaders      = 0x1
	h2FramePushPromise  = 0x5
	h2FrameContinuation = 0x9
	h2FlagEndHeaders    = 0x4
	h2FrameHeaderLen    = 9
)

// errH2BlockTimeout is what a read fails with when a header block did not
// end within the header timeout.
var errH2BlockTimeout = errors.New("server: an HTTP/2 header block did not end within the header timeout")

// h2Blocks follows the frames read on an HTTP/2 connection. Only the
// goroutine reading the connection (net/http's HTTP/2 frame reader) uses
// it.
type h2Blocks struct {
	fh       [h2FrameHeaderLen]byte
	nfh      int    // bytes of the frame header read
	left     uint32 // payload bytes of the frame being read still to come
	ends     bool   // the frame being read ends the open header block
	open     bool   // a header block is being read
	read     int64  // bytes of the open block read so far
	start    time.Time
	deadline bool // the connection's read deadline is the open block's
}

// before is called before each read of c: it bounds the read by the open
// block's deadline, or clears that deadline once the block ended, and
// reports errHeadBudget when a large block finds no room in the budget.
func (b *h2Blocks) before(c net.Conn, h *headCount) error {
	if !b.open {
		if b.deadline {
			b.deadline = false
			_ = c.SetReadDeadline(time.Time{})
		}
		return nil
	}
	if t := h.heads.timeout; t > 0 && !b.deadline {
		b.deadline = true
		if time.Since(b.start) >= t {
			return errH2BlockTimeout
		}
		_ = c.SetReadDeadline(b.start.Add(t))
	}
	// The frame being read has its buffer at its declared size already.
	if b.read+int64(b.left) >= readerSize && h.held.Load() == 0 && !h.hold() {
		return errHeadBudget
	}
	return nil
}

// after follows the bytes p read.
func (b *h2Blocks) after(p []byte, h *headCount) {
	for len(p) > 0 {
		if b.nfh < h2FrameHeaderLen {
			k := copy(b.fh[b.nfh:], p)
			b.nfh += k
			p = p[k:]
			if b.open {
				b.read += int64(k)
			}
			if b.nfh < h2FrameHeaderLen {
				return
			}
			b.left = uint32(b.fh[0])<<16 | uint32(b.fh[1])<<8 | uint32(b.fh[2])
			switch typ, flags := b.fh[3], b.fh[4]; typ {
			case h2FrameHeaders, h2FramePushPromise:
				if !b.open {
					b.open, b.read, b.start = true, h2FrameHeaderLen, time.Now()
				}
				b.ends = flags&h2FlagEndHeaders != 0
			case h2FrameContinuation:
				b.ends = flags&h2FlagEndHeaders != 0
			default:
				// Any other frame in a block is a connection error, which
				// the server answers by closing; nothing to follow.
				b.ends = false
			}
		} else {
			k := min(uint32(len(p)), b.left)
			b.left -= k
			p = p[k:]
			if b.open {
				b.read += int64(k)
			}
		}
		if b.nfh == h2FrameHeaderLen && b.left == 0 {
			b.nfh = 0
			if b.open && b.ends {
				b.open = false
				h.release()
			}
		}
	}
}
