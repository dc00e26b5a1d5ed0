package h1

import (
	"net"
	"syscall"
	"unsafe"
)

// probe checks, without blocking, that an idle connection has received
// nothing (no byte, no end) since its last answer: one
// recv(MSG_PEEK|MSG_DONTWAIT) call. It is made once per conn so that a
// check allocates nothing.
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
		// A raw call, as in package rawio: a non-blocking peek cannot hold
		// the thread, so the scheduler need not be told (and sysmon woken).
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		p.clean = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
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
