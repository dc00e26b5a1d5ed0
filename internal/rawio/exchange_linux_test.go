//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// pending returns what a peek at c's socket finds: the bytes waiting (at
// most one is looked at), 0 at the peer's end, or -1 when nothing is there.
func pending(t testing.TB, c net.Conn) int {
	t.Helper()
	rc, err := c.(*Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	r := 0
	if err := rc.Control(func(fd uintptr) {
		n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r = int(n)
		case syscall.EAGAIN:
			r = -1
		default:
			t.Errorf("peek: %v", e)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitPending waits until a peek at c finds want (see pending), for 10 s
// at most: what the peer sent or did has reached c's socket.
func waitPending(t testing.TB, c net.Conn, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pending(t, c) != want {
		if time.Now().After(deadline) {
			t.Fatalf("the socket never had %d pending", want)
		}
		time.Sleep(time.Millisecond)
	}
}

// firstByte checks that the first byte the peer s reads is the marker c
// writes now: nothing of an earlier exchange reached s.
func firstByte(t *testing.T, c, s net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte{'M'}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(s, b[:]); err != nil || b[0] != 'M' {
		t.Fatalf("the peer read %q, %v first; want the marker: the exchange sent something", b[:], err)
	}
}

// echoOnce reads len(want) bytes on s, checks them, and answers answer.
func echoOnce(t *testing.T, s net.Conn, want, answer []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(s, got); err != nil {
			done <- err
			return
		}
		if !bytes.Equal(got, want) {
			done <- errors.New("the peer read another request")
			return
		}
		_, err := s.Write(answer)
		done <- err
	}()
	return done
}

func TestExchangeQuiet(t *testing.T) {
	c, s := pair(t)
	x := c.(Exchanger)
	buf := make([]byte, 64)
	for i, quiet := range []bool{false, true, true} {
		done := echoOnce(t, s, []byte("ping"), []byte("pong"))
		w, n, err := x.Exchange([]byte("ping"), buf, quiet)
		if err != nil || w != 4 || string(buf[:n]) != "pong" {
			t.Fatalf("exchange %d (quiet %v): wrote %d, read %q, %v", i, quiet, w, buf[:n], err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// A connection that received a byte nobody asked for fails the check:
// ErrNotQuiet, and the request is not sent.
func TestExchangeNotQuietBytes(t *testing.T) {
	c, s := pair(t)
	if _, err := s.Write([]byte("late answer")); err != nil {
		t.Fatal(err)
	}
	waitPending(t, c, 1)
	w, n, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true)
	if !errors.Is(err, ErrNotQuiet) || w != 0 || n != 0 {
		t.Fatalf("wrote %d, read %d, %v; want ErrNotQuiet and nothing", w, n, err)
	}
	firstByte(t, c, s)
	// The bytes are still there, unread: the check only peeked.
	if b := make([]byte, 11); func() bool { _, err := io.ReadFull(c, b); return err != nil || string(b) != "late answer" }() {
		t.Fatal("the unsolicited bytes were consumed")
	}
	// Without the check, the exchange goes ahead.
	done := echoOnce(t, s, []byte("GET"), []byte("ok"))
	buf := make([]byte, 64)
	if _, n, err := c.(Exchanger).Exchange([]byte("GET"), buf, false); err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("unchecked exchange: %q, %v", buf[:n], err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A connection whose peer closed fails the check: it would fail the request.
func TestExchangeNotQuietClosed(t *testing.T) {
	c, s := pair(t)
	s.Close()
	waitPending(t, c, 0)
	w, _, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true)
	if !errors.Is(err, ErrNotQuiet) || w != 0 {
		t.Fatalf("wrote %d, %v; want ErrNotQuiet", w, err)
	}
	// Unchecked, the peer's end is the answer: io.EOF.
	w, n, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), false)
	if err != io.EOF || w != 3 || n != 0 {
		t.Fatalf("wrote %d, read %d, %v; want io.EOF after the write", w, n, err)
	}
}

// The peer reads the request and closes without an answer: io.EOF.
func TestExchangeEOF(t *testing.T) {
	c, s := pair(t)
	go func() {
		io.ReadFull(s, make([]byte, 3))
		s.Close()
	}()
	w, n, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true)
	if err != io.EOF || w != 3 || n != 0 {
		t.Fatalf("wrote %d, read %d, %v; want io.EOF", w, n, err)
	}
}

// The read deadline ends the wait for the answer, with the request sent.
func TestExchangeReadDeadline(t *testing.T) {
	c, s := pair(t)
	got := make(chan struct{})
	go func() {
		io.ReadFull(s, make([]byte, 3))
		close(got)
	}()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	w, _, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() || w != 3 {
		t.Fatalf("wrote %d, %v; want the request written and a timeout", w, err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("error %#v does not name the read", err)
	}
	<-got
}

// A write deadline already past fails the exchange before anything is
// sent, as it fails Write.
func TestExchangeWriteDeadline(t *testing.T) {
	c, s := pair(t)
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	w, _, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true)
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || w != 0 || !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("wrote %d, %v; want a write timeout and nothing written", w, err)
	}
	c.SetWriteDeadline(time.Time{})
	firstByte(t, c, s)
}

// A request larger than the socket's buffers: the rest waits for room, and
// the write deadline ends that wait when the peer does not read.
func TestExchangeLargeRequest(t *testing.T) {
	c, s := pair(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	done := echoOnce(t, s, big, []byte("done"))
	buf := make([]byte, 64)
	w, n, err := c.(Exchanger).Exchange(big, buf, true)
	if err != nil || w != len(big) || string(buf[:n]) != "done" {
		t.Fatalf("wrote %d of %d, read %q, %v", w, len(big), buf[:n], err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	c2, _ := pair(t) // a peer that never reads
	c2.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	w, _, err = c2.(Exchanger).Exchange(big, buf, true)
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || w == 0 || w >= len(big) || !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("wrote %d of %d, %v; want part written and a write timeout", w, len(big), err)
	}
}

// An answer larger than p: the exchange reads what p holds, Read the rest.
func TestExchangeLargeAnswer(t *testing.T) {
	c, s := pair(t)
	answer := bytes.Repeat([]byte("answer! "), 1<<17) // 1 MiB
	done := echoOnce(t, s, []byte("GET"), answer)
	p := make([]byte, 4096)
	w, n, err := c.(Exchanger).Exchange([]byte("GET"), p, true)
	if err != nil || w != 3 || n == 0 || n > len(p) {
		t.Fatalf("wrote %d, read %d, %v", w, n, err)
	}
	rest := make([]byte, len(answer)-n)
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(p[:n:n], rest...), answer) {
		t.Fatal("the answer read differs")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Close ends an exchange waiting for its answer.
func TestExchangeClose(t *testing.T) {
	c, s := pair(t)
	got := make(chan struct{})
	go func() {
		io.ReadFull(s, make([]byte, 3))
		close(got)
	}()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true)
		done <- err
	}()
	<-got // sent: the exchange waits or is about to
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("exchange on a closed conn: %v; want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the exchange")
	}
	if _, _, err := c.(Exchanger).Exchange([]byte("GET"), make([]byte, 64), true); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("exchange after Close: %v; want net.ErrClosed", err)
	}
}

// With p empty, the exchange only writes.
func TestExchangeEmptyP(t *testing.T) {
	c, s := pair(t)
	w, n, err := c.(Exchanger).Exchange([]byte("M"), nil, true)
	if err != nil || w != 1 || n != 0 {
		t.Fatalf("wrote %d, read %d, %v", w, n, err)
	}
	var b [1]byte
	if _, err := io.ReadFull(s, b[:]); err != nil || b[0] != 'M' {
		t.Fatalf("peer read %q, %v", b[:], err)
	}
}

func TestExchangeNoAllocs(t *testing.T) {
	c, s := pair(t)
	x := c.(Exchanger)
	req, buf := []byte("hello"), make([]byte, 64)
	go func() {
		b := make([]byte, 5)
		for {
			if _, err := io.ReadFull(s, b); err != nil {
				return
			}
			if _, err := s.Write(b); err != nil {
				return
			}
		}
	}()
	allocs := testing.AllocsPerRun(200, func() {
		_, n, err := x.Exchange(req, buf, true)
		if err != nil {
			t.Fatal(err)
		}
		if n < len(req) { // the echo came in pieces
			if _, err := io.ReadFull(c, buf[n:len(req)]); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per exchange; want 0", allocs)
	}
}

// BenchmarkExchange compares an exchange of 64 bytes, its check included
// (one peek more), with a Write and a Read on a wrapped connection. The
// echo is in-process, so ns/op is mostly the round trip's latency.
func BenchmarkExchange(b *testing.B) {
	for _, name := range []string{"exchange", "write+read"} {
		b.Run(name, func(b *testing.B) {
			c, s := pair(b)
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(s, buf); err != nil {
						return
					}
					if _, err := s.Write(buf); err != nil {
						return
					}
				}
			}()
			x := c.(Exchanger)
			buf := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				var n int
				var err error
				if name == "exchange" {
					_, n, err = x.Exchange(buf, buf, true)
				} else {
					if _, err = c.Write(buf); err == nil {
						n, err = c.Read(buf)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				if n < len(buf) {
					if _, err := io.ReadFull(c, buf[n:]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
