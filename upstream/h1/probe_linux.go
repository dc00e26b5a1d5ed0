package h1

import (
	"syscall"
	"unsafe"
)

// peek sets p.clean when fd has nothing to read and no end: one
// recv(MSG_PEEK|MSG_DONTWAIT). A raw call, as in package rawio: a
// non-blocking peek cannot hold the thread, so the scheduler need not be
// told (and sysmon woken).
func (p *probe) peek(fd uintptr) bool {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	p.clean = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
	return true
}
