//go:build unix && !linux

package h1

import (
	"net"
	"syscall"
)

// probe checks, without blocking, that an idle connection has received
// nothing (no byte, no end) since its last answer: one recv(MSG_PEEK) on
// the non-blocking socket.
type probe struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	buf   [1]byte
	clean bool
}

func (p *probe) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.rc = rc
	p.fn = func(fd uintptr) bool {
		// The runtime's poller keeps the socket non-blocking: with nothing
		// to read, recv fails with EAGAIN at once.
		_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK)
		p.clean = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	}
}

// ok reports whether the connection may carry a request: nothing to read,
// not closed. It reports false when it cannot tell (a conn that is not a
// syscall.Conn).
func (p *probe) ok() bool {
	if p.rc == nil {
		return false
	}
	p.clean = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.clean
}
