package rawio

import (
	"errors"
	"net"
)

// A client that reuses a pooled connection makes, per round trip, a check
// that the connection stayed silent while idle (a non-blocking peek), the
// write of the request, and a read of the answer, which usually finds
// nothing yet (EAGAIN) before the goroutine parks for it: four system
// calls, of which two tell it nothing new. An exchange makes the check, the
// send and the read in one wait on the poller: the peek and the send run
// right after the poller is reset for reading, so the one read comes after
// the poller said the answer is there. Three calls, none of them EAGAIN.

// ErrNotQuiet is the error of an Exchange asked to check that the
// connection is quiet, when it is not: it had received bytes or its end
// before the request was sent. Nothing was sent; the connection must not
// carry the request (the bytes would be read as its answer), and is best
// closed.
var ErrNotQuiet = errors.New("rawio: connection received bytes or its end while idle")

// An Exchanger sends a request and reads the first bytes of its answer in
// one exchange: *Conn on Linux.
type Exchanger interface {
	net.Conn

	// Exchange writes all of req and reads the first bytes of the answer
	// into p, as Write(req) then Read(p) would, with their errors, and
	// returns how much of req it wrote and how much of p it read: zero and
	// io.EOF once the peer closed its side without answering. With quiet
	// set, it first checks that nothing was received (no byte, no end) and
	// otherwise returns ErrNotQuiet, having written nothing. Deadlines and
	// Close interrupt it as they do Write and Read.
	Exchange(req, p []byte, quiet bool) (written, n int, err error)
}

// Exchange is nc's Exchange when nc is an Exchanger. Otherwise it writes req
// with nc.Write and reads into p with nc.Read; such a connection cannot be
// checked without reading from it, so with quiet set it returns ErrNotQuiet
// and writes nothing: a caller that must reuse such connections checks them
// its own way first (package upstream/h1 peeks with recv(MSG_PEEK)).
func Exchange(nc net.Conn, req, p []byte, quiet bool) (written, n int, err error) {
	if x, ok := nc.(Exchanger); ok {
		return x.Exchange(req, p, quiet)
	}
	if quiet {
		return 0, 0, ErrNotQuiet
	}
	if written, err = nc.Write(req); err != nil {
		return written, 0, err
	}
	if len(p) == 0 {
		return written, 0, nil
	}
	n, err = nc.Read(p)
	return written, n, err
}
