package router

import "sync"

// A tunnel lives for minutes or hours, idle most of the time, and each of
// its two copy loops waits in a Read with its buffer: with a buffer of 32
// KiB each way, an idle WebSocket held 64 KiB for nothing, most of the
// gateway's 111 KB a tunnel (measured in one process, client and node
// left out), and the 50,000 connections the listeners may hold by default
// could be 50,000 idle WebSockets. So a copy loop reads into a small
// buffer of its own while bytes come a few at a time, as they do on an
// idle or chatty tunnel, and takes a large one from a pool, for as long as
// they come in bulk, once a read fills the small one: a transfer's reads
// are as large as before, and an idle tunnel holds smallBuf a way.

const (
	smallBuf = 2 << 10  // a copy loop's own buffer
	largeBuf = 32 << 10 // a pooled one, while bytes come in bulk
)

var largeBufs = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}

// copyBuf is a copy loop's buffer: get the one to read into, read the
// count that read returned, last the buffer that read filled (valid until
// the next get).
type copyBuf struct {
	small [smallBuf]byte
	large *[]byte // while bytes come in bulk
	bulk  bool    // the last read asks for the large buffer
	last  []byte  // the buffer get returned last
}

// get returns the buffer for the next read: the large one while bytes come
// in bulk, the small one otherwise. It takes or gives back the large one
// as the last read asked: never before, since the bytes that read
// returned are written from it in between.
func (b *copyBuf) get() []byte {
	switch {
	case b.bulk && b.large == nil:
		b.large = largeBufs.Get().(*[]byte)
	case !b.bulk && b.large != nil:
		b.release()
	}
	if b.large != nil {
		b.last = *b.large
	} else {
		b.last = b.small[:]
	}
	return b.last
}

// read takes note of a read of n bytes into the buffer get returned: one
// that filled the small buffer asks for a large one for the next read, and
// one that would have fit the small buffer gives the large one back, so
// that the next read, which may wait for long, holds only the small one.
func (b *copyBuf) read(n int) {
	b.bulk = n >= smallBuf
}

// release gives the large buffer back, if it holds one.
func (b *copyBuf) release() {
	if b.large != nil {
		largeBufs.Put(b.large)
		b.large = nil
	}
}
