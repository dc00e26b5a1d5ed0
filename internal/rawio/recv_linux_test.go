package rawio

import (
	"net"
	"syscall"
	"testing"
	"unsafe"
)

// BenchmarkRecvVersusRead prices recv (recvfrom without flags or address),
// as Conn reads, against read(2), on a loopback TCP socket: "empty" finds
// nothing (EAGAIN, as a read of an idle connection does), "data" reads the
// 100 bytes the peer wrote (the peer's write counted too).
func BenchmarkRecvVersusRead(b *testing.B) {
	calls := []struct {
		name string
		call func(fd uintptr, p []byte) (uintptr, uintptr, syscall.Errno)
	}{
		{"recv", recv},
		{"read", func(fd uintptr, p []byte) (uintptr, uintptr, syscall.Errno) {
			return syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		}},
	}
	for _, c := range calls {
		b.Run("empty/"+c.name, func(b *testing.B) {
			fd, _ := rawPair(b)
			p := make([]byte, 4096)
			for b.Loop() {
				if _, _, e := c.call(fd, p); e != syscall.EAGAIN {
					b.Fatalf("errno %v, want EAGAIN", e)
				}
			}
		})
		b.Run("data/"+c.name, func(b *testing.B) {
			fd, peer := rawPair(b)
			p, msg := make([]byte, 4096), make([]byte, 100)
			for b.Loop() {
				if _, err := peer.Write(msg); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < len(msg); {
					n, _, e := c.call(fd, p)
					switch e {
					case 0:
						if n == 0 {
							b.Fatal("EOF")
						}
						got += int(n)
					case syscall.EAGAIN:
					default:
						b.Fatal(e)
					}
				}
			}
		})
	}
}

// rawPair returns the non-blocking descriptor of a loopback TCP
// connection's client side, which the runtime's poller owns, and the
// server side.
func rawPair(b *testing.B) (uintptr, net.Conn) {
	c, s := pair(b)
	b.Cleanup(func() { c.Close(); s.Close() })
	sc, err := c.(*Conn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var fd uintptr
	if err := sc.Control(func(d uintptr) { fd = d }); err != nil {
		b.Fatal(err)
	}
	return fd, s
}
