//go:build unix && !linux

package h1

import "syscall"

// peek sets p.clean when fd has nothing to read and no end: one
// recv(MSG_PEEK). The runtime's poller keeps the socket non-blocking: with
// nothing to read, recv fails with EAGAIN at once.
func (p *probe) peek(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK)
	p.clean = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true
}
