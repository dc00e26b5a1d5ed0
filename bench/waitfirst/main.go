//go:build linux

// Command waitfirst measures what reading a kept-alive connection costs in
// system calls, two ways, on a server that answers every request with the
// same few bytes: what the gateway does, and what would save the read that
// finds nothing.
//
// "probe" is the gateway's way, package server's reads through
// internal/rawio: one syscall.RawConn.Read per read. Read resets the
// poller's readiness for the connection before it calls its function, so
// the function must try a recv first, in case bytes came before the reset: after an answer that
// try finds nothing (EAGAIN) nearly always, since the client waits for the
// answer, and only then does the goroutine wait. Three system calls a
// request: the recv that finds nothing, the recv of the request, the send
// of the answer.
//
// "loop" gives each connection a reader goroutine whose one
// syscall.RawConn.Read never returns while the connection lives: its
// function receives what is there, hands it to the serving goroutine, and
// returns false to wait, within the same Read, so the readiness the poller
// saw since is never reset, and no recv comes before the wait. It takes a
// recv that fills less than its buffer for one that emptied the socket,
// which is not always so: recv stops before the client's end when it
// reached bytes first, and before urgent data, and nothing arriving after
// reports them, so a client that half-closes right after its last request
// may wait for its end here (a measure of system calls, not a server:
// bench/README.md says how the gateway's version knows, with TCP_INQ). Two
// system calls a request, and a hand-off between two goroutines. nginx
// waits before it reads in the same way, from its own event loop.
//
//	waitfirst -mode loop -listen 127.0.0.1:0
//
// It logs one JSON line {"msg":"listening","address":"HOST:PORT"} on
// standard error once it accepts connections, and answers each request
// (whatever its method or path; a request's body is not read) with a 200
// and "ok". Its measures are in bench/README.md (the seventh stop of
// 2026-12-06).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/sluicehq/sluice/internal/rawio"
)

// answer is the reply to every request.
var answer = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on; port 0 lets the kernel pick")
	mode := flag.String("mode", "probe", `"probe" (a read per request, as the gateway reads) or "loop" (one read a connection)`)
	flag.Parse()
	serve, ok := modes[*mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "waitfirst: -mode is probe or loop, not %q\n", *mode)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitfirst:", err)
		os.Exit(1)
	}
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info("listening", "address", ln.Addr().String())
	accept(ln, serve)
}

// modes are the ways of serving a connection, by name.
var modes = map[string]func(*net.TCPConn){"probe": probe, "loop": loop}

// accept serves each connection ln accepts with serve, until ln fails.
func accept(ln net.Listener, serve func(*net.TCPConn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(c.(*net.TCPConn))
	}
}

// probe serves c as package server reads: through internal/rawio, whose
// Read is one RawConn.Read.
func probe(c *net.TCPConn) {
	rw := rawio.Wrap(c)
	defer rw.Close()
	p := make([]byte, 4096)
	var pending, out []byte
	for {
		n, err := rw.Read(p)
		if err != nil {
			return
		}
		pending = append(pending, p[:n]...)
		if pending, out, err = reply(rw, pending, out); err != nil {
			return
		}
	}
}

// loop serves c with a reader goroutine whose one RawConn.Read lasts as
// long as the connection.
func loop(c *net.TCPConn) {
	rw := rawio.Wrap(c) // its Write sends the answers
	defer rw.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var (
		mu     sync.Mutex
		got    []byte // received, not yet taken
		closed bool   // the reader is done: end of stream or an error
	)
	ready := make(chan struct{}, 1)
	signal := func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	go func() {
		p := make([]byte, 4096)
		defer func() {
			mu.Lock()
			closed = true
			mu.Unlock()
			signal()
		}()
		_ = rc.Read(func(fd uintptr) bool {
			for {
				k, e := recv(fd, p)
				switch {
				case e == syscall.EINTR:
					continue
				case e == syscall.EAGAIN:
					return false
				case e != 0 || k == 0:
					return true // an error, or the end of the stream
				}
				mu.Lock()
				got = append(got, p[:k]...)
				mu.Unlock()
				signal()
				if k < len(p) {
					return false // the socket is taken as empty (see the doc): wait, in this same Read
				}
			}
		})
	}()
	var pending, out []byte
	for range ready {
		mu.Lock()
		pending = append(pending, got...)
		got = got[:0]
		done := closed
		mu.Unlock()
		if pending, out, err = reply(rw, pending, out); err != nil || done {
			return
		}
	}
}

// reply sends one answer for each whole request header in pending, in one
// write to w, and returns what is left of pending and out, the buffer it
// used.
func reply(w io.Writer, pending, out []byte) ([]byte, []byte, error) {
	out = out[:0]
	for {
		i := bytes.Index(pending, []byte("\r\n\r\n"))
		if i < 0 {
			break
		}
		pending = pending[i+4:]
		out = append(out, answer...)
	}
	if len(out) == 0 {
		return pending, out, nil
	}
	_, err := w.Write(out)
	return pending, out, err
}

// recv reads into p, which must not be empty, as internal/rawio does.
func recv(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	return int(n), e
}
