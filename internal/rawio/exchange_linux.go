//go:build linux

package rawio

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// exchange is the state of an Exchange, kept in the Conn so that an
// exchange allocates nothing. Its callback runs in phases: check (the peek,
// with quiet), send, then receive once the poller says the socket is
// readable.
type exchange struct {
	req, p   []byte
	quiet    bool
	phase    uint8
	wn, n    int
	errno    syscall.Errno // of the send in phase xSend, of the read in xRecv
	notQuiet bool
	peek     [1]byte
}

const (
	xCheck uint8 = iota // peek, if quiet
	xSend               // send req
	xRecv               // read the answer
	xDone               // p empty: nothing to read
)

// Exchange writes all of req and reads the first bytes of the answer into
// p, in one syscall.RawConn.Read: right after the poller is reset for
// reading, a non-blocking recv(MSG_PEEK) checks, with quiet, that nothing
// arrived (else ErrNotQuiet, nothing sent), then send(2) writes req, then
// the goroutine waits for readability and one recv(2) fills p. There is no
// read before the answer can be there, so none returns EAGAIN, and the peek
// costs no wait of its own. See Exchanger for what it returns.
//
// The write deadline and Close are checked before the send, as Write checks
// them. The send cannot block (a non-blocking socket); if the socket's
// buffer takes only part of req, the rest is written by Write, which waits
// for room under the write deadline, and p by Read. The wait for the answer
// ends at the read deadline or Close, as Read's does.
func (c *Conn) Exchange(req, p []byte, quiet bool) (written, n int, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.exchangeLocked(req, p, quiet)
}

// exchangeLocked is Exchange under its locks. It is a function of its own
// so that Exchange's defers are open-coded: with one per return of this
// body, the compiler ran them through the runtime's defer records, whose
// walk of the stack cost about 275 instructions a request (bench/instr.sh).
func (c *Conn) exchangeLocked(req, p []byte, quiet bool) (written, n int, err error) {
	// Write's checks, made by the poller without a system call: the send
	// runs under the read's, which know nothing of the write deadline.
	if err := c.rc.Write(c.checkFn); err != nil {
		return 0, 0, c.opError("write", err)
	}
	x := &c.x
	x.req, x.p, x.quiet = req, p, quiet
	x.phase, x.wn, x.n, x.errno, x.notQuiet = xCheck, 0, 0, 0, false
	err = c.rc.Read(c.exchangeFn)
	x.req, x.p = nil, nil
	written, n = x.wn, x.n
	switch {
	case x.notQuiet:
		return 0, 0, ErrNotQuiet
	case x.phase <= xSend:
		switch {
		case err != nil:
			return written, 0, c.opError("write", err)
		case x.errno != 0:
			return written, 0, c.opError("write", os.NewSyscallError("write", x.errno))
		}
		// The socket's buffer is full: the rest waits for room as Write
		// does, and the answer is read as Read reads it.
		w, err := c.writeLocked(req[written:])
		written += w
		if err != nil || len(p) == 0 {
			return written, 0, err
		}
		n, err = c.readLocked(p)
		return written, n, err
	case x.phase == xDone:
		return written, 0, nil
	case err != nil:
		return written, 0, c.opError("read", err)
	case x.errno != 0:
		return written, 0, c.opError("read", os.NewSyscallError("read", x.errno))
	case n == 0:
		return written, 0, io.EOF
	}
	return written, n, nil
}

// checked is the callback of Exchange's check of the write deadline: the
// poller has made it when it runs.
func checked(uintptr) bool { return true }

func (c *Conn) exchange(fd uintptr) bool {
	x := &c.x
	if x.phase == xCheck {
		if x.quiet {
			for {
				_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&x.peek[0])), 1,
					syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
				if e == syscall.EINTR {
					continue
				}
				if e != syscall.EAGAIN { // a byte, the end (0), or an error
					x.notQuiet = true
					return true
				}
				break
			}
		}
		x.phase = xSend
	}
	if x.phase == xSend {
		for x.wn < len(x.req) {
			rest := x.req[x.wn:]
			n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)),
				syscall.MSG_NOSIGNAL, 0, 0)
			switch e {
			case 0:
				x.wn += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return true // no room: Exchange writes the rest
			default:
				x.errno = e
				return true
			}
		}
		if len(x.p) == 0 {
			x.phase = xDone
			return true
		}
		x.phase = xRecv
		// The answer cannot have come yet, or hardly: wait for the poller
		// to say it has rather than try a read that returns EAGAIN. The
		// poller was reset before the send, so its readiness is not missed.
		return false
	}
	for {
		n, _, e := recv(fd, x.p)
		switch e {
		case 0:
			x.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // woken without data: wait again
		default:
			x.errno = e
			return true
		}
	}
}
