//go:build unix

package h1

import (
	"net"
	"syscall"
)

// probe checks, without blocking, that an idle connection has received
// nothing (no byte, no end) since its last answer: one non-blocking
// recv(MSG_PEEK), made by peek (per platform). It is made once per conn so
// that a check allocates nothing.
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
	p.fn = p.peek
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
